"""TEST-ANCESTRY-PY: TEST-ANCESTRY-ECHO (../../test-signatures/ancestry-echo)
in Python: for each exec two levels below a process named ``ancestry-top``,
a finding whose ``chain`` is the host call ``ancestors`` as JSON, with the
same keys, so tests can compare the two SDKs."""

import json

from sigbox_sdk import Select, Signature, export

TOP = "ancestry-top"


class AncestryEcho(Signature):
    id = "TEST-ANCESTRY-PY"
    name = "Echo the ancestry of execs below ancestry-top (test only, Python)"
    event_name = "ancestry_echo_py"
    description = "Reports the ancestor chain of execs whose grandparent is named ancestry-top. For tests."
    tags = ["test"]
    events = [
        Select(
            "sched_process_exec",
            reading=["process-name"],
            filters={"ancestor.2.process-name": [TOP]},
        )
    ]

    def on_event(self, event):
        chain = [
            {
                "pid": a.pid,
                "hostPid": a.host_pid,
                "entityId": a.entity_id,
                "processName": a.process_name,
                "executablePath": a.executable_path,
                "uid": a.uid,
                "startNs": a.start_ns,
                "exitNs": a.exit_ns,
                "containerId": a.container_id,
            }
            for a in event.ancestors()
        ]
        # A JSON text: finding data holds strings, numbers and lists of strings.
        return [{"chain": json.dumps(chain, separators=(",", ":"))}]


Detector = export(AncestryEcho)
