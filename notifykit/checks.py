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
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # defined in notifykit._findings, exported here (see __getattr__ below)
    from notifykit._findings import SEVERITIES, Finding, Severity, Use

__all__ = [
    "SEVERITIES",
    "Check",
    "CheckContext",
    "Finding",
    "Severity",
    "Use",
    "deferred",
]


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


def __getattr__(name: str) -> Any:
    # What a check returns and reads: imported when doctor runs, not by every process that
    # registers checks (a first dry run).
    if name in ("SEVERITIES", "Finding", "Severity", "Use"):
        from notifykit import _findings

        return getattr(_findings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
