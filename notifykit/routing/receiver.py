"""A receiver (a ``receivers:`` entry, or the implicit one an ``events:``-only config routes
to): declared apart from the escalation policies of :mod:`notifykit.routing.escalation`, which
re-exports it, so that routing to one imports no escalation machinery."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Receiver"]


@dataclass(frozen=True)
class Receiver:
    """A ``receivers:`` entry: ``channels`` + ``to``, or an ``escalation`` (exactly one of them).

    ``template`` overrides the event's template; ``priority`` the channel's SMS priority (the
    route's ``priority``, when set, overrides the receiver's). ``path``/``line`` say where it is
    in the config, for problems the integrator finds later (a template with no variant for a
    channel).
    """

    name: str
    channels: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    template: str | None = None
    priority: str | None = None
    escalation: str | None = None
    path: str = ""
    line: int | None = None
    #: alternatives that replace its channels' own ``fallback`` (docs/failover.md); ``None``:
    #: each channel's own
    fallback: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.escalation is not None and (self.channels or self.to):
            raise ValueError(
                f"receiver {self.name!r}: give either escalation or channels + to, not both"
            )
