"""What ``notifykit doctor`` runs: checks that plugins contribute, and the findings they return.

A plugin registers :class:`Check` objects through the ``register_checks`` hook. ``doctor`` loads
the config, builds a :class:`CheckContext` and runs each check: offline checks read the config
and the templates; online checks (``online=True``, run with ``doctor --online``) also ask the
provider's API, through the account's client. Each returns :class:`Finding` objects: a severity,
where in the config (a key path, with the file and line filled in by the context) and a message
that names the problem and its fix. The core knows no provider: what to check belongs to the
plugin that owns the rule (the Exotel plugin applies India's DLT rules of
:mod:`notifykit.india` to its channels, and asks Exotel about ExoPhones and numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal, Protocol

from notifykit.channels.base import Recipient

__all__ = [
    "SEVERITIES",
    "Check",
    "CheckContext",
    "Finding",
    "Severity",
    "Use",
    "deferred",
]

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


class CheckContext(Protocol):
    """What a check is given (see :class:`notifykit.doctor.DoctorContext`)."""

    @property
    def config(self) -> Any:
        """The validated :class:`notifykit.config.Config` (accounts, channels, templates...)."""

    @property
    def online(self) -> bool:
        """Whether this run may ask providers' APIs (``doctor --online``)."""

    @property
    def channel_types(self) -> Mapping[str, Any]:
        """Channel type name -> :class:`~notifykit.channels.ChannelType`, of the loaded plugins."""

    def uses(self) -> Sequence[Use]:
        """Every :class:`Use` of the config: which channel sends which template to whom."""

    def client(self, account: str) -> Any:
        """The account's provider client (``online`` runs only: it needs the secrets)."""

    def line(self, path: str) -> int | None:
        """The line of a key path in the config file (its nearest ancestor's, when the key is
        not written out: a default), or ``None``."""

    def finding(self, severity: Severity, path: str, message: str) -> Finding:
        """A :class:`Finding` at ``path``, with the config file and the key's line."""


@dataclass(frozen=True)
class Check:
    """A check ``doctor`` runs. ``run(context)`` returns (or yields) findings.

    ``name`` is what ``doctor --check NAME`` selects and what each finding names
    (``exotel.caller-ids``); ``description`` says in a line what it looks at. An ``online``
    check asks a provider's API and runs only with ``doctor --online``. A check that raises is
    reported as an error finding naming it: a broken check never passes silently.
    """

    name: str
    run: Callable[[CheckContext], Iterable[Finding]]
    description: str = ""
    online: bool = False


def deferred(module: str, function: str) -> Callable[[CheckContext], Iterable[Finding]]:
    """A check's ``run`` that imports ``module`` when the check first runs and calls its
    ``function``: a plugin registers its checks with their names and descriptions, and the code
    behind them loads only when ``doctor`` runs one, not in every process that loads the
    plugin (a first dry run)."""

    def run(ctx: CheckContext) -> Iterable[Finding]:
        found: Iterable[Finding] = getattr(import_module(module), function)(ctx)
        return found

    run.__name__ = run.__qualname__ = function
    run.__module__ = module
    return run
