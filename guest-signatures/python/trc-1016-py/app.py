"""TRC-1016 "Web server spawned a shell", in Python (componentize-py).

The same semantics as the Rust port in ../../trc-1016 (and Tracee's Go
signature): on `sched_process_exec`, a finding with no data when the
process's name before the exec (`prev_comm`) is a known web server and its
name after the exec is a known shell; an exec event without a string
`prev_comm` is an error, never a finding. Its id is TRC-1016-PY so it can
run next to the Rust one and be compared with it.
"""

from typing import List

from componentize_py_types import Err, Ok
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
# The fields read, in the order each event carries their values.
FIELDS = ["prev_comm", "process-name"]


def text(event: types.Event, index: int) -> str:
    """A declared string field, or an error naming it, as Tracee reports it."""
    value = event.fields[index]
    if isinstance(value, types.Value_Text):
        return value.value
    raise ValueError(
        f"event {SCHED_PROCESS_EXEC}: argument {FIELDS[index]} is missing or not a string"
    )


def evaluate(event: types.Event) -> List[types.Finding]:
    before = text(event, 0)
    if before in WEB_SERVER_NAMES and text(event, 1) in SHELL_NAMES:
        return [types.Finding(data=[])]
    return []


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
                    types.FieldFilter(field="prev_comm", any_of=list(WEB_SERVER_NAMES)),
                    types.FieldFilter(field="process-name", any_of=list(SHELL_NAMES)),
                ],
                fields=list(FIELDS),
            )
        ]

    def init(self, config: List[types.Field]) -> None:
        return None

    def on_events(self, events: List[types.Event]) -> List[types.Outcome]:
        outcomes = []
        for position, event in enumerate(events):
            try:
                findings = evaluate(event)
            except ValueError as error:
                outcomes.append(types.Outcome(event=position, findings=Err(str(error))))
                continue
            if findings:
                outcomes.append(types.Outcome(event=position, findings=Ok(findings)))
        return outcomes

    def on_signal(self, signal: types.Signal) -> None:
        return None
