"""Exotel call flows in the simulator: the applets a flow is made of, where flows are registered,
and the keys queued for the people on its calls.

A flow is Exotel's "app", built in App Bazaar and started by ``Calls/connect`` with
``Url=http://my.exotel.com/<sid>/exoml/start_voice/<flow_id>`` (reference §3), or by a call to an
ExoPhone the flow is attached to. Here it is an ordered list of applets (reference §13):

- :class:`Greeting` speaks a fixed ``text``, or the text read from ``url`` ("Read text like a
  robot" pointed at a URL: Exotel sends ``HEAD`` then ``GET``);
- :class:`Gather` plays a prompt and collects keys: the simulator presses the keys queued for the
  person on the line (:class:`DigitQueue`), or none (the gather times out);
- :class:`Passthru` GETs ``url`` with the call's details and the gathered ``digits``; a 200 takes
  the ``success`` branch, anything else (302 by design) the ``failure`` branch;
- :class:`Connect` dials whom ``url`` answers (or fixed ``numbers``); someone answering takes the
  ``success`` branch, nobody the ``failure`` branch;
- :class:`Hangup` ends the call.

A branch names where the flow goes: ``"next"`` (the following applet, the default), ``"hangup"``,
or the ``name`` of an applet of the same flow (so a flow can loop: a step limit stops it). Running
flows is :mod:`.flowrun`'s job; nothing here does I/O.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from .wire import is_phone_number, last_digits, national_form

__all__ = [
    "Applet",
    "Connect",
    "DigitQueue",
    "Flow",
    "FlowBook",
    "Gather",
    "Greeting",
    "Hangup",
    "Passthru",
    "applet_from_dict",
    "flow_key",
]

NEXT = "next"
HANGUP = "hangup"
#: The keys of a phone keypad: what a gather can collect.
KEYS = frozenset("0123456789*#")
#: The flow id in a connect-to-flow ``Url``: the current ``.../exoml/start_voice/<id>`` form and
#: the legacy ``.../exoml/start/<id>`` one (reference §3).
_FLOW_URL = re.compile(r"/exoml/start(?:_voice)?/(?P<id>[^/?#]+)/?(?:[?#].*)?$")
_FLOW_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_URL = re.compile(r"^https?://\S+$")


def _check_url(kind: str, name: str, value: str | None) -> None:
    if value is not None and not _URL.match(value):
        raise ValueError(f"{kind} {name} {value!r} is not an http(s) URL")


def _check_branch(kind: str, name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{kind} {name} must be 'next', 'hangup' or the name of an applet")


@dataclass(frozen=True)
class Greeting:
    """Speak ``text``, or what ``url`` answers (``text/plain``: a text to speak, or the URL of an
    audio file). Exactly one of the two."""

    url: str | None = None
    text: str | None = None
    name: str | None = None
    kind: ClassVar[str] = "greeting"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.text is None):
            raise ValueError("a greeting needs exactly one of url (text read from a URL) or text")
        _check_url("greeting", "url", self.url)

    def branches(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Gather:
    """Play a prompt (``prompt`` text, ``prompt_url`` read like a greeting, or none) and collect
    up to ``max_digits`` keys, ending early on ``finish_on_key``; ``timeout`` is Exotel's input
    timeout in seconds (the simulator does not wait it out: no keys queued is a timeout at once,
    unless the simulator's ``gather_wait`` says to wait)."""

    prompt: str | None = None
    prompt_url: str | None = None
    max_digits: int = 1
    timeout: int = 5
    finish_on_key: str = "#"
    name: str | None = None
    kind: ClassVar[str] = "gather"

    def __post_init__(self) -> None:
        if self.prompt is not None and self.prompt_url is not None:
            raise ValueError("a gather takes prompt (text) or prompt_url, not both")
        _check_url("gather", "prompt_url", self.prompt_url)
        if not 1 <= self.max_digits <= 50:
            raise ValueError(f"gather max_digits must be 1 to 50, not {self.max_digits}")
        if self.timeout < 1:
            raise ValueError(f"gather timeout must be at least 1 second, not {self.timeout}")
        if self.finish_on_key not in ("", "#", "*"):
            raise ValueError(
                f"gather finish_on_key must be '#', '*' or '' (none), not {self.finish_on_key!r}"
            )

    def branches(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class Passthru:
    """GET ``url`` with the call's details (and ``digits`` after a gather): 200 goes to
    ``success``, any other answer, or none, to ``failure``."""

    url: str
    success: str = NEXT
    failure: str = NEXT
    name: str | None = None
    kind: ClassVar[str] = "passthru"

    def __post_init__(self) -> None:
        _check_url("passthru", "url", self.url)
        _check_branch("passthru", "success", self.success)
        _check_branch("passthru", "failure", self.failure)

    def branches(self) -> tuple[str, ...]:
        return (self.success, self.failure)


@dataclass(frozen=True)
class Connect:
    """Dial the number(s) ``url`` answers ("dial whom" URL, ``text/plain``) or the fixed
    ``numbers``, in order until one answers: ``success`` when someone did, else ``failure``.
    Whether a number answers follows the simulator's outcome rules for that number."""

    url: str | None = None
    numbers: tuple[str, ...] = ()
    success: str = NEXT
    failure: str = NEXT
    name: str | None = None
    kind: ClassVar[str] = "connect"

    def __post_init__(self) -> None:
        if (self.url is None) == (not self.numbers):
            raise ValueError("a connect needs exactly one of url (dial whom URL) or numbers")
        _check_url("connect", "url", self.url)
        for number in self.numbers:
            if not is_phone_number(number):
                raise ValueError(f"connect number {number!r} is not a phone number")
        _check_branch("connect", "success", self.success)
        _check_branch("connect", "failure", self.failure)

    def branches(self) -> tuple[str, ...]:
        return (self.success, self.failure)


@dataclass(frozen=True)
class Hangup:
    """End the call."""

    name: str | None = None
    kind: ClassVar[str] = "hangup"

    def branches(self) -> tuple[str, ...]:
        return ()


Applet = Greeting | Gather | Passthru | Connect | Hangup
_APPLET_CLASSES = (Greeting, Gather, Passthru, Connect, Hangup)
APPLET_TYPES: dict[str, type[Applet]] = {cls.kind: cls for cls in _APPLET_CLASSES}


def applet_to_dict(applet: Applet) -> dict[str, Any]:
    """An applet as JSON-ready data: ``{"type": ..., <its fields>}``."""
    data: dict[str, Any] = {"type": applet.kind}
    for each in fields(applet):
        value = getattr(applet, each.name)
        data[each.name] = list(value) if isinstance(value, tuple) else value
    return data


def applet_from_dict(data: Mapping[str, Any]) -> Applet:
    """An applet from JSON-style data (``{"type": "passthru", "url": ...}``); ValueError naming
    the problem (an unknown type or field, a mistyped value, a bad URL)."""
    if not isinstance(data, Mapping):
        raise ValueError(f'an applet must be an object such as {{"type": "hangup"}}, not {data!r}')
    kind = data.get("type")
    cls = APPLET_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"applet type {kind!r} is unknown: use {', '.join(APPLET_TYPES)}")
    known = {each.name: each for each in fields(cls)}
    unknown = sorted(set(data) - set(known) - {"type"})
    if unknown:
        raise ValueError(
            f"unknown {kind} field(s) {', '.join(unknown)}: a {kind} takes {', '.join(known)}"
        )
    required = [n for n, f in known.items() if f.default is MISSING and data.get(n) is None]
    if required:
        raise ValueError(f"a {kind} needs {', '.join(required)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type" or value is None:
            continue
        if key in ("max_digits", "timeout"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{kind} {key} must be a whole number, not {value!r}")
        elif key == "numbers":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{kind} numbers must be a list of phone numbers, not {value!r}")
            value = tuple(value)
        elif not isinstance(value, str):
            raise ValueError(f"{kind} {key} must be a string, not {value!r}")
        values[key] = value
    return cls(**values)


def flow_key(url_or_id: str) -> str:
    """The flow id a connect-to-flow ``Url`` names (``.../exoml/start_voice/<id>`` or the legacy
    ``.../exoml/start/<id>``); any other URL, or a bare id, is its own key."""
    found = _FLOW_URL.search(url_or_id)
    return found["id"] if found else url_or_id


@dataclass(frozen=True)
class Flow:
    """A registered flow: its id (as in the flow URL, or a whole flow URL) and its applets."""

    flow_id: str
    applets: tuple[Applet, ...]

    def __post_init__(self) -> None:
        if not (_FLOW_ID.match(self.flow_id) or _URL.match(self.flow_id)):
            raise ValueError(
                f"flow id {self.flow_id!r} must be the id in the flow URL (letters, digits, - _) "
                "or a whole http(s) flow URL"
            )
        if not self.applets:
            raise ValueError(f"flow {self.flow_id} has no applets: give at least one")
        names = [applet.name for applet in self.applets if applet.name is not None]
        doubled = sorted({name for name in names if names.count(name) > 1})
        if doubled:
            raise ValueError(f"flow {self.flow_id}: applet name(s) {', '.join(doubled)} repeat")
        for name in names:
            if name in (NEXT, HANGUP):
                raise ValueError(f"flow {self.flow_id}: {name!r} is a branch, not an applet name")
        for applet in self.applets:
            for target in applet.branches():
                if target not in (NEXT, HANGUP) and target not in names:
                    raise ValueError(
                        f"flow {self.flow_id}: branch {target!r} of a {applet.kind} names no "
                        "applet: use 'next', 'hangup' or the name of one of its applets"
                    )

    @property
    def key(self) -> str:
        """What calls look the flow up by (:func:`flow_key` of its id)."""
        return flow_key(self.flow_id)

    def index_of(self, name: str) -> int:
        """The position of the applet called ``name``."""
        for index, applet in enumerate(self.applets):
            if applet.name == name:
                return index
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"flow_id": self.flow_id, "applets": [applet_to_dict(a) for a in self.applets]}

    @classmethod
    def build(cls, flow_id: str, applets: Iterable[Applet | Mapping[str, Any]]) -> Flow:
        """A flow from applet objects or their JSON-style dicts; ValueError naming the problem."""
        if isinstance(applets, (str, bytes, Mapping)):
            raise ValueError("applets must be a list of applets")
        built = tuple(a if isinstance(a, _APPLET_CLASSES) else applet_from_dict(a) for a in applets)
        return cls(flow_id, built)


class FlowBook:
    """The registered flows and which flow each ExoPhone runs for incoming calls (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flows: dict[str, Flow] = {}
        self._exophones: dict[str, tuple[str, str]] = {}

    def add(self, flow: Flow) -> None:
        """Register ``flow`` (replacing one with the same id)."""
        with self._lock:
            self._flows[flow.key] = flow

    def lookup(self, url_or_id: str) -> Flow | None:
        """The flow a connect-to-flow ``Url`` (or a flow id) names, or None."""
        with self._lock:
            return self._flows.get(flow_key(url_or_id)) or self._flows.get(url_or_id)

    def attach(self, exophone: str, flow_id: str) -> None:
        """Run ``flow_id`` for every call to ``exophone``; ValueError for an unknown flow or a
        number that is not one."""
        if not is_phone_number(exophone):
            raise ValueError(f"ExoPhone {exophone!r} is not a phone number")
        with self._lock:
            if flow_key(flow_id) not in self._flows:
                raise ValueError(f"no flow {flow_id!r} is registered: add the flow first")
            self._exophones[last_digits(exophone)] = (national_form(exophone), flow_key(flow_id))

    def for_exophone(self, exophone: str) -> Flow | None:
        """The flow attached to ``exophone`` (matched on its last 10 digits), or None."""
        with self._lock:
            attached = self._exophones.get(last_digits(exophone))
            return None if attached is None else self._flows.get(attached[1])

    def clear(self) -> None:
        with self._lock:
            self._flows.clear()
            self._exophones.clear()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "flows": {key: flow.to_dict() for key, flow in self._flows.items()},
                "exophones": dict(self._exophones.values()),
            }


@dataclass
class DigitQueue:
    """The keys queued for each number (matched on its last 10 digits), oldest first.

    Each entry is what the person presses at one gather: ``"1"``, ``"1234#"``, or ``""`` for a
    gather they let time out. Thread-safe; :meth:`pop` can wait for an entry to be queued.
    """

    _queues: dict[str, deque[str]] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @staticmethod
    def check(number: str, entries: Iterable[str]) -> list[str]:
        """The entries, checked: ValueError naming a bad number or key."""
        if not is_phone_number(number):
            raise ValueError(f"{number!r} is not a phone number")
        checked = []
        for entry in entries:
            if not isinstance(entry, str) or not set(entry) <= KEYS:
                raise ValueError(
                    f"digits {entry!r} are not keypad keys: use 0-9, * and # "
                    '("" presses nothing, so that gather times out)'
                )
            checked.append(entry)
        return checked

    def push(self, number: str, *entries: str) -> None:
        """Queue ``entries`` for ``number``, one per gather, in order."""
        checked = self.check(number, entries)
        with self._changed:
            self._queues.setdefault(last_digits(number), deque()).extend(checked)
            self._changed.notify_all()

    def pop(
        self, number: str, wait: float = 0.0, stop: threading.Event | None = None
    ) -> str | None:
        """The oldest entry for ``number``, waiting up to ``wait`` seconds for one (or until
        ``stop`` is set and :meth:`wake` called); None when nothing was queued."""
        key = last_digits(number)
        with self._changed:
            self._changed.wait_for(
                lambda: bool(self._queues.get(key)) or (stop is not None and stop.is_set()),
                timeout=max(wait, 0.0),
            )
            queue = self._queues.get(key)
            if not queue:
                return None
            entry = queue.popleft()
            if not queue:
                del self._queues[key]
            return entry

    def wake(self) -> None:
        """Wake every waiting :meth:`pop` (the simulator is stopping)."""
        with self._changed:
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._queues.clear()

    def describe(self) -> dict[str, list[str]]:
        with self._changed:
            return {number: list(queue) for number, queue in self._queues.items()}
