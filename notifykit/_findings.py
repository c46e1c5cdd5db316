"""What a ``doctor`` check returns (:class:`Finding`, with its :data:`Severity`) and reads
(:class:`Use`), exported by :mod:`notifykit.checks`: kept apart so that registering checks
builds neither dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from notifykit.channels.base import Recipient

__all__ = ["SEVERITIES", "Finding", "Severity", "Use"]

Severity = Literal["error", "warning", "note"]

#: most severe first: an ``error`` fails ``doctor`` (exit 3), a ``warning`` fails it with
#: ``--strict``, a ``note`` never does
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "note")


@dataclass(frozen=True)
class Finding:
    """One thing a check found: how bad, where in the config, and what to do about it.

    ``path`` is a key path as config problems name them (``channels.pager.caller_id``,
    ``templates.db_down``, ``recipients.alice.phone``); ``file`` and ``line`` say where that key
    is (``CheckContext.finding`` fills them in). ``message`` says what is wrong and the fix, in
    one sentence a person can act on, and never holds a secret. ``check`` is the name of the
    check that found it (set by the runner).
    """

    severity: Severity
    path: str
    message: str
    file: str | None = None
    line: int | None = None
    check: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"a finding's severity is one of {', '.join(SEVERITIES)}, not {self.severity!r}"
            )

    @property
    def where(self) -> str:
        """``file:line: key.path:`` (the parts known), as config problems print it."""
        head = self.file or ""
        if head and self.line is not None:
            head = f"{head}:{self.line}"
        parts = [p for p in (head, self.path) if p]
        return "".join(f"{part}: " for part in parts)

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "check": self.check,
        }


@dataclass(frozen=True)
class Use:
    """One way the config sends: a channel, the template it renders and the people it reaches.

    Gathered from the routing (each receiver, and each step of its escalation, with the
    receiver's template, or else each event's and the default one), the ``events:`` and the
    ``defaults:``, so a check can ask "which templates does this SMS channel send, and to
    whom?" without knowing how the config routes. ``path`` says where the use comes from
    (``receivers.oncall``, ``escalations.night.steps[1]``, ``events.db.down``, ``defaults``);
    ``escalation`` is true for an escalation step, whose template gets ``ack_url`` when
    ``server.public_url`` is set.
    """

    channel: str
    channel_type: str
    template: str
    recipients: tuple[Recipient, ...]
    path: str
    escalation: bool = False
