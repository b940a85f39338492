"""sigbox's Python SDK: a signature as short as the Rust one.

Write a class with metadata, the events it selects and ``on_event``, then
export it as the component's ``Detector``::

    from sigbox_sdk import Select, Signature, export

    class IllegitimateShell(Signature):
        id = "TRC-1016"
        name = "Web server spawned a shell"
        event_name = "illegitimate_shell"
        severity = 2
        events = [Select("sched_process_exec", reading=["prev_comm", "process-name"],
                         filters={"prev_comm": WEB_SERVERS})]

        def on_event(self, event):
            if event.text("prev_comm") in WEB_SERVERS:
                return [{}]           # one finding, no data
            return []

    Detector = export(IllegitimateShell)

``on_event`` returns a list of findings, each a dict of its data (str, int,
float, bool, None or a list of str), or raises ``ValueError`` for an event
it cannot evaluate (the host counts and logs it, as Tracee does). Build with
componentize-py against sigbox's ``wit/`` (see guest-signatures/README.md).
"""

from typing import Dict, List, Optional, Sequence

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import host, types

__all__ = [
    "Event",
    "Select",
    "Signature",
    "access_mode",
    "basename_in",
    "export",
    "prefix",
    "suffix",
]

_ORIGINS = {
    "any": types.OriginFilter.ANY,
    "host": types.OriginFilter.HOST,
    "container": types.OriginFilter.CONTAINER,
    "container-init": types.OriginFilter.CONTAINER_INIT,
}


def prefix(*values: str) -> types.Test:
    """A filter passing fields that start with one of ``values``."""
    return types.Test_Prefix(list(values))


def suffix(*values: str) -> types.Test:
    """A filter passing fields that end with one of ``values``."""
    return types.Test_Suffix(list(values))


def basename_in(*names: str) -> types.Test:
    """A filter passing paths whose last component is one of ``names``."""
    return types.Test_BasenameIn(list(names))


def access_mode(access: str) -> types.Test:
    """A filter passing open flags that allow ``access`` ("read" or "write")."""
    modes = {"read": types.Access.READ, "write": types.Access.WRITE}
    if access not in modes:
        raise ValueError(f"access must be one of {sorted(modes)}, not {access!r}")
    return types.Test_AccessMode(modes[access])


def _test(values) -> types.Test:
    # A plain list of strings is an exact match, as in contract 0.2.
    if isinstance(values, (list, tuple, set, frozenset)):
        return types.Test_Equals(list(values))
    return values


class Select:
    """An event the signature receives: its name, the fields it reads (only
    these cross into the sandbox), optional host-side filters (field -> the
    values accepted, or ``prefix(...)``, ``suffix(...)``, ``basename_in(...)``,
    ``access_mode(...)``) and the origin (any, host, container,
    container-init)."""

    def __init__(
        self,
        name: str,
        reading: Sequence[str] = (),
        filters: Optional[Dict[str, Sequence[str]]] = None,
        origin: str = "any",
    ):
        if origin not in _ORIGINS:
            raise ValueError(f"origin must be one of {sorted(_ORIGINS)}, not {origin!r}")
        self.name = name
        self.reading = list(reading)
        self.filters = dict(filters or {})
        self.origin = origin

    def to_wit(self) -> types.EventSelector:
        return types.EventSelector(
            name=self.name,
            origin=_ORIGINS[self.origin],
            filters=[
                types.FieldFilter(field=field, test=_test(values))
                for field, values in self.filters.items()
            ],
            fields=list(self.reading),
        )


class Event:
    """One event as the host delivers it: ``name``, the numeric context as
    attributes (``pid``, ``host_pid``, ``uid``, ...), the declared fields
    through ``get``, ``text`` and ``texts``, and ``ancestors()``."""

    def __init__(self, raw: types.Event, select: Select, position: int):
        self._raw = raw
        self._select = select
        self._position = position
        self.name = select.name

    def __getattr__(self, attribute: str):
        # The numeric context (pid, tid, ppid, host_pid, uid, ...).
        return getattr(self._raw.context, attribute)

    def get(self, field: str):
        """A declared field's value as Python data (None when absent)."""
        try:
            index = self._select.reading.index(field)
        except ValueError:
            raise ValueError(
                f"event {self.name}: field {field} was not declared in reading=[...]"
            ) from None
        return _python(self._raw.fields[index])

    def text(self, field: str) -> str:
        """A string field, or ValueError naming it (Tracee's GetStringArgumentByName)."""
        value = self.get(field)
        if isinstance(value, str):
            return value
        raise ValueError(f"event {self.name}: argument {field} is missing or not a string")

    def ancestors(self) -> List[types.Ancestor]:
        """The ancestors of the event's process, nearest first (the parent
        first), at most 8, exited ones included (``exit_ns`` not 0): one host
        call. Each has ``pid``, ``host_pid``, ``entity_id``, ``process_name``,
        ``executable_path``, ``uid``, ``start_ns``, ``exit_ns`` and
        ``container_id``. Empty where the source has no ancestry (replay)."""
        return host.ancestors(self._position)

    def texts(self, field: str) -> List[str]:
        """A list-of-strings field (argv, env), or ValueError naming it."""
        value = self.get(field)
        if isinstance(value, list):
            return value
        raise ValueError(f"event {self.name}: argument {field} is missing or not a list of strings")


def _python(value: types.Value):
    if isinstance(value, types.Value_None_):
        return None
    return value.value


def _wit(value) -> types.Value:
    if value is None:
        return types.Value_None_()
    if isinstance(value, bool):
        return types.Value_Boolean(value)
    if isinstance(value, int):
        return types.Value_Signed(value) if value < 2**63 else types.Value_Unsigned(value)
    if isinstance(value, float):
        return types.Value_Float(value)
    if isinstance(value, str):
        return types.Value_Text(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return types.Value_TextList(value)
    raise ValueError(f"finding data value {value!r} is not str, int, float, bool, None or list of str")


class Signature:
    """Subclass this: set the metadata attributes and ``events``, define
    ``on_event``; optionally ``__init__(self, config)`` (config: dict)."""

    id = ""
    version = "1"
    name = ""
    event_name = ""
    description = ""
    tags: Sequence[str] = ()
    severity = 0
    category = ""
    technique = ""
    kubernetes_technique = ""
    mitre_id = ""
    external_id = ""
    events: Sequence[Select] = ()

    def __init__(self, config: Dict[str, object]):
        self.config = config

    def on_event(self, event: Event) -> List[Dict[str, object]]:
        raise NotImplementedError("a signature defines on_event")


def export(signature: type) -> type:
    """The component's ``Detector`` for a Signature subclass."""
    selects = list(signature.events)

    class Detector(exports.Detector):
        instance = None

        def get_metadata(self) -> types.Metadata:
            return types.Metadata(
                id=signature.id,
                version=signature.version,
                name=signature.name,
                event_name=signature.event_name,
                description=signature.description,
                tags=list(signature.tags),
                properties=types.Properties(
                    severity=signature.severity,
                    category=signature.category,
                    technique=signature.technique,
                    kubernetes_technique=signature.kubernetes_technique,
                    mitre_id=signature.mitre_id,
                    external_id=signature.external_id,
                    extra=[],
                ),
            )

        def selected_events(self) -> List[types.EventSelector]:
            return [select.to_wit() for select in selects]

        def init(self, config: List[types.Field]) -> None:
            Detector.instance = signature({f.name: _python(f.value) for f in config})

        def on_events(self, events: List[types.Event]) -> List[types.Outcome]:
            outcomes = []
            for position, raw in enumerate(events):
                event = Event(raw, selects[raw.selector], position)
                try:
                    findings = [
                        types.Finding(
                            data=[types.Field(name=k, value=_wit(v)) for k, v in data.items()]
                        )
                        for data in Detector.instance.on_event(event)
                    ]
                except ValueError as error:
                    outcomes.append(types.Outcome(event=position, findings=Err(str(error))))
                    continue
                if findings:
                    outcomes.append(types.Outcome(event=position, findings=Ok(findings)))
            return outcomes

        def on_signal(self, signal: types.Signal) -> None:
            return None

    return Detector
