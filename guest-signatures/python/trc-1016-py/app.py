"""TRC-1016 "Web server spawned a shell", in Python with sigbox's SDK.

The same semantics as the Rust port in ../../trc-1016 (and Tracee's Go
signature), and the same test vectors pass on both
(../../trc-1016/vectors/trc-1016.jsonl). Its id is TRC-1016-PY so it can run
next to the Rust one and be compared with it.
"""

from sigbox_sdk import Select, Signature, export

SHELL_NAMES = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"]
WEB_SERVER_NAMES = ["nginx", "httpd", "httpd-foregroun", "http-nio", "lighttpd", "apache", "apache2"]


class IllegitimateShell(Signature):
    id = "TRC-1016-PY"
    name = "Web server spawned a shell"
    event_name = "illegitimate_shell"
    description = (
        "A web-server program on your server spawned a shell program. "
        "Shell is the linux command-line program, web servers usually don't run "
        "shell programs, so this alert might indicate an adversary is exploiting "
        "a web server program to gain command execution on the server."
    )
    severity = 2
    category = "initial-access"
    technique = "Exploit Public-Facing Application"
    mitre_id = "attack-pattern--3f886f2a-874f-4333-b794-aa6075009b1c"
    external_id = "T1190"
    events = [
        Select(
            "sched_process_exec",
            reading=["prev_comm", "process-name"],
            filters={"prev_comm": WEB_SERVER_NAMES, "process-name": SHELL_NAMES},
        )
    ]

    def on_event(self, event):
        # A missing or non-string prev_comm raises ValueError: an error, never a finding.
        if event.text("prev_comm") in WEB_SERVER_NAMES and event.text("process-name") in SHELL_NAMES:
            return [{}]
        return []


Detector = export(IllegitimateShell)
