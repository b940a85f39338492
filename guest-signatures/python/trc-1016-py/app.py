"""TRC-1016 "Web server spawned a shell", in Python (componentize-py).

The same semantics as the Rust port in ../../trc-1016 (and Tracee's Go
signature): on `sched_process_exec`, a finding with no data when the
process's name before the exec (`prev_comm`) is a known web server and its
name after the exec is a known shell; an exec event without a string
`prev_comm` is an error, never a finding. Its id is TRC-1016-PY so it can
run next to the Rust one and be compared with it.
"""

from typing import List

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

SHELL_NAMES = ["ash", "bash", "csh", "ksh", "sh", "tcsh", "zsh", "dash"]
WEB_SERVER_NAMES = [
    "nginx",
    "httpd",
    "httpd-foregroun",
    "http-nio",
    "lighttpd",
    "apache",
    "apache2",
]
SCHED_PROCESS_EXEC = "sched_process_exec"


def prev_comm(event: types.Event) -> str:
    """The string `prev_comm` argument, or an error as Tracee reports it."""
    payload = event.payload
    if isinstance(payload, types.Payload_Exec):
        if payload.value.prev_comm is not None:
            return payload.value.prev_comm
    else:
        for field in payload.value:
            if field.name == "prev_comm" and isinstance(field.value, types.Value_Text):
                return field.value.value
    raise Err(f"event {event.name}: argument prev_comm is missing or not a string")


class Detector(exports.Detector):
    def get_metadata(self) -> types.Metadata:
        return types.Metadata(
            id="TRC-1016-PY",
            version="1",
            name="Web server spawned a shell",
            event_name="illegitimate_shell",
            description=(
                "A web-server program on your server spawned a shell program. "
                "Shell is the linux command-line program, web servers usually don't run "
                "shell programs, so this alert might indicate an adversary is exploiting "
                "a web server program to gain command execution on the server."
            ),
            tags=[],
            properties=types.Properties(
                severity=2,
                category="initial-access",
                technique="Exploit Public-Facing Application",
                kubernetes_technique="",
                mitre_id="attack-pattern--3f886f2a-874f-4333-b794-aa6075009b1c",
                external_id="T1190",
                extra=[],
            ),
        )

    def selected_events(self) -> List[types.EventSelector]:
        return [
            types.EventSelector(
                name=SCHED_PROCESS_EXEC,
                origin=types.OriginFilter.ANY,
                filters=[
                    types.FieldFilter(field="prev-comm", any_of=list(WEB_SERVER_NAMES)),
                    types.FieldFilter(field="process-name", any_of=list(SHELL_NAMES)),
                ],
            )
        ]

    def init(self, config: List[types.Field]) -> None:
        return None

    def on_event(self, event: types.Event) -> List[types.Finding]:
        if event.name != SCHED_PROCESS_EXEC:
            return []
        before = prev_comm(event)
        if before in WEB_SERVER_NAMES and event.process_name in SHELL_NAMES:
            return [types.Finding(data=[])]
        return []

    def on_signal(self, signal: types.Signal) -> None:
        return None
