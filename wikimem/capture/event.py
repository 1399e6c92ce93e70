"""The Event: what an agent's adapter extracts from one hook payload (stdlib only)."""

from __future__ import annotations


class Event:
    """What an adapter extracts from one payload, before redaction and capping.

    (A plain class, not a dataclass: the hook path does not import `dataclasses`.)
    """

    __slots__ = ("session", "kind", "cwd", "data", "uid")

    def __init__(self, session: str, kind: str, cwd: str, data: dict | None = None,
                 uid: str | None = None):
        self.session = session
        self.kind = kind
        self.cwd = cwd
        self.data = {} if data is None else data
        self.uid = uid  # an id the agent gave this event, for the idempotency key

    def _fields(self) -> tuple:
        return (self.session, self.kind, self.cwd, self.data, self.uid)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (f"Event(session={self.session!r}, kind={self.kind!r}, cwd={self.cwd!r}, "
                f"data={self.data!r}, uid={self.uid!r})")
