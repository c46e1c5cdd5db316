"""The route tree: which receivers an alert reaches, with which timing, by Alertmanager's rules.

Every alert enters at the root (which has no matchers and names a receiver). Children are tried in
order; an alert descends into a child when all the child's matchers match; the first matching child
ends the search unless it has ``continue: true``; a node none of whose children match handles the
alert itself. Unset settings (``receiver``, ``group_by``, the three timers, ``send_resolved``,
``priority``) are inherited from the parent; ``mute_time_intervals`` and ``active_time_intervals``
are not. Muting never changes the walk: a muted route still ends the search unless it continues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from notifykit.routing.alert import ALL_LABELS, Alert, AlertKey
from notifykit.routing.matchers import Matcher, matches_all

if TYPE_CHECKING:
    from notifykit.routing.timeintervals import TimeInterval

__all__ = [
    "DEFAULT_SETTINGS",
    "Route",
    "RouteMatch",
    "RouteSettings",
    "RouteTree",
]


@dataclass(frozen=True)
class RouteSettings:
    """A route's effective settings, after inheritance.

    ``group_by`` ``None`` means the default key (the event plus every label); ``("...",)`` says
    the same explicitly. Durations are seconds.
    """

    receiver: str
    group_by: tuple[str, ...] | None = None
    group_wait: float = 0.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    send_resolved: bool = False
    priority: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "receiver": self.receiver,
            "group_by": list(self.group_by) if self.group_by is not None else [ALL_LABELS],
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "send_resolved": self.send_resolved,
            "priority": self.priority,
        }


#: the in-app defaults of the root route (Alertmanager's group_wait is 30s; an application
#: that reports its own failure wants the first message at once)
DEFAULT_SETTINGS = RouteSettings(receiver="")


@dataclass(frozen=True)
class Route:
    """One node of the route tree, as configured (``None``: inherit from the parent).

    ``path`` is where it is in the config (``route``, ``route.routes[0]``...), for explanations
    and error messages.
    """

    receiver: str | None = None
    matchers: tuple[Matcher, ...] = ()
    routes: tuple[Route, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    send_resolved: bool | None = None
    priority: str | None = None
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    path: str = "route"

    def settings(self, parent: RouteSettings) -> RouteSettings:
        """This node's effective settings, unset ones taken from ``parent``."""
        changes: dict[str, object] = {}
        for name in (
            "receiver",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "send_resolved",
            "priority",
        ):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        group_by = changes.get("group_by")
        if isinstance(group_by, tuple) and ALL_LABELS in group_by:
            changes["group_by"] = None
        return replace(parent, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RouteMatch:
    """A node that receives an alert: where it is, its effective settings, why it matched."""

    path: str
    settings: RouteSettings
    #: the matchers that matched on the way down, root first, each with the path of its node
    matched: tuple[tuple[str, tuple[Matcher, ...]], ...]
    key: AlertKey
    continue_: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()

    @property
    def receiver(self) -> str:
        return self.settings.receiver

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        """Every matcher that matched on the way to this node."""
        return tuple(m for _path, ms in self.matched for m in ms)

    def mute_reason(self, at: datetime, intervals: Mapping[str, TimeInterval]) -> str | None:
        """Why this route sends nothing at ``at`` (``None``: it sends). Alertmanager's order:
        active intervals first, then mute intervals."""
        if self.active_time_intervals and not any(
            intervals[name].contains(at) for name in self.active_time_intervals
        ):
            names = ", ".join(self.active_time_intervals)
            return f"outside its active_time_intervals ({names})"
        for name in self.mute_time_intervals:
            if intervals[name].contains(at):
                return f"in its mute_time_intervals ({name})"
        return None


@dataclass(frozen=True)
class RouteTree:
    """The root route, its defaults, and the time intervals its routes name."""

    root: Route
    defaults: RouteSettings = DEFAULT_SETTINGS
    time_intervals: Mapping[str, TimeInterval] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.root.matchers:
            raise ValueError("the root route matches every alert and takes no matchers")
        if self.root.receiver is None and not self.defaults.receiver:
            raise ValueError("the root route must name a receiver")
        if self.root.mute_time_intervals or self.root.active_time_intervals:
            raise ValueError("the root route cannot have mute or active time intervals")
        if self.root.continue_:
            raise ValueError("the root route cannot have continue")
        for node in self.walk():
            for name in (*node.mute_time_intervals, *node.active_time_intervals):
                if name not in self.time_intervals:
                    raise ValueError(f"{node.path}: no time interval named {name!r}")

    def walk(self) -> list[Route]:
        """Every node, depth first, in config order."""
        result: list[Route] = []

        def visit(node: Route) -> None:
            result.append(node)
            for child in node.routes:
                visit(child)

        visit(self.root)
        return result

    def route(self, alert: Alert) -> list[RouteMatch]:
        """The nodes that receive ``alert``, in order (never empty: at worst the root)."""
        labels = alert.label_set
        found = self._match(self.root, alert, labels, self.defaults, ())
        assert found, "the root matches every alert"
        return found

    def _match(
        self,
        node: Route,
        alert: Alert,
        labels: Mapping[str, str],
        parent: RouteSettings,
        trail: tuple[tuple[str, tuple[Matcher, ...]], ...],
    ) -> list[RouteMatch]:
        if not matches_all(node.matchers, labels):
            return []
        settings = node.settings(parent)
        trail = (*trail, (node.path, node.matchers)) if node.matchers else trail
        found: list[RouteMatch] = []
        for child in node.routes:
            matches = self._match(child, alert, labels, settings, trail)
            found.extend(matches)
            if matches and not child.continue_:
                break
        if not found:
            found.append(
                RouteMatch(
                    path=node.path,
                    settings=settings,
                    matched=trail,
                    key=alert.key_for(settings.group_by),
                    continue_=node.continue_,
                    mute_time_intervals=node.mute_time_intervals,
                    active_time_intervals=node.active_time_intervals,
                )
            )
        return found

    def mute_reason(self, match: RouteMatch, at: datetime) -> str | None:
        """Why ``match`` sends nothing at ``at`` (``None``: it sends)."""
        return match.mute_reason(at, self.time_intervals)

    def render(self, describe_receiver: Mapping[str, str] | None = None) -> str:
        """The tree as text, one node per line (``notifykit routes tree``).

        ``describe_receiver`` may give a short description per receiver name
        (``sms, call -> dba-team``), shown after it.
        """
        lines: list[str] = []

        def settings_text(
            node: Route, settings: RouteSettings, parent: RouteSettings | None
        ) -> str:
            parts = []
            for name in ("group_by", "group_wait", "group_interval", "repeat_interval"):
                value = getattr(settings, name)
                if parent is not None and getattr(node, name) is None:
                    continue  # inherited: shown at the node that sets it
                if name == "group_by":
                    shown = "[" + ", ".join(value or [ALL_LABELS]) + "]"
                else:
                    shown = format_duration(float(value))
                parts.append(f"{name}: {shown}")
            if node.send_resolved is not None:
                parts.append(f"send_resolved: {str(node.send_resolved).lower()}")
            if node.priority is not None:
                parts.append(f"priority: {node.priority}")
            if node.continue_:
                parts.append("continue")
            if node.active_time_intervals:
                parts.append("active: " + ", ".join(node.active_time_intervals))
            if node.mute_time_intervals:
                parts.append("mute: " + ", ".join(node.mute_time_intervals))
            return ("  (" + "; ".join(parts) + ")") if parts else ""

        def receiver_text(settings: RouteSettings, node: Route) -> str:
            text = settings.receiver
            if node.receiver is None:
                text += " (inherited)"
            if describe_receiver and settings.receiver in describe_receiver:
                text += f" [{describe_receiver[settings.receiver]}]"
            return text

        def visit(
            node: Route, parent: RouteSettings | None, prefix: str, last: bool, index: int | None
        ) -> None:
            settings = node.settings(parent or self.defaults)
            if index is None:
                head = f"route -> {receiver_text(settings, node)}"
                child_prefix = ""
            else:
                branch = "└── " if last else "├── "
                matchers = ", ".join(str(m) for m in node.matchers) or "(matches everything)"
                head = f"{prefix}{branch}[{index}] {matchers} -> {receiver_text(settings, node)}"
                child_prefix = prefix + ("    " if last else "│   ")
            lines.append(head + settings_text(node, settings, parent))
            for i, child in enumerate(node.routes):
                visit(child, settings, child_prefix, i == len(node.routes) - 1, i)

        visit(self.root, None, "", True, None)
        return "\n".join(lines)


def format_duration(seconds: float) -> str:
    """``300.0`` -> ``5m``; ``5400`` -> ``1h30m``; ``0`` -> ``0s`` (Go style, as written)."""
    if seconds == 0:
        return "0s"
    out = []
    remaining = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count = int(remaining // size)
        if count:
            out.append(f"{count}{unit}")
            remaining -= count * size
    if remaining:
        out.append(f"{remaining:g}s" if remaining >= 1 else f"{remaining * 1000:g}ms")
    return "".join(out)


def receivers_in_order(matches: Sequence[RouteMatch]) -> list[str]:
    """Each receiver reached, once, in the order first reached."""
    seen: list[str] = []
    for match in matches:
        if match.receiver not in seen:
            seen.append(match.receiver)
    return seen
