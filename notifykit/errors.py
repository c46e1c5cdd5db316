"""The notifykit core's error tree.

Every error a caller can get from the core is a :class:`NotifykitError`. They are raised only for a
caller's mistake (bad config, unknown template, invalid recipient...), always *before* anything is sent;
failures while sending are reported per delivery in a :class:`~notifykit.Report`, never raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class NotifykitError(Exception):
    """Base class of every error raised by the notifykit core."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a configuration file: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(NotifykitError):
    """The configuration is invalid. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in configuration"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[ConfigProblem]], dict[str, object]]:
        # The default pickling calls ConfigError(message), which read the message's characters
        # as problems; rebuild from the problems, which give the same message.
        return (type(self), (self.problems,), dict(self.__dict__))


class TemplateError(NotifykitError):
    """Base class of template problems; ``template`` names the template concerned."""

    def __init__(self, message: str, *, template: str | None = None) -> None:
        self.template = template
        super().__init__(message)


class TemplateNotFoundError(TemplateError):
    """No template of that name exists in any template directory."""


class TemplateRenderError(TemplateError):
    """A template failed to render: a missing variable (``variable`` names it), a syntax error,
    or an operation the sandbox forbids."""

    def __init__(
        self, message: str, *, template: str | None = None, variable: str | None = None
    ) -> None:
        self.variable = variable
        super().__init__(message, template=template)


class MessageTooLongError(TemplateError):
    """The rendered SMS body is longer than the provider accepts (Exotel: 2000 characters)."""


class DltMismatchError(TemplateError):
    """The rendered SMS body does not match the template's registered DLT pattern, so an Indian
    operator would reject or downgrade it."""


class RecipientError(NotifykitError):
    """A recipient is unknown, or its address (phone number) is invalid."""


class NobodyOnCallError(RecipientError):
    """A message's only targets are on-call schedules (``schedule:NAME``) with nobody on call at
    that moment: nothing can be sent to them. An escalation step skips to the next step at once;
    a receiver's flush notes ``skipped: nobody on call``. ``schedules`` names them."""

    def __init__(self, message: str, schedules: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.schedules = schedules


class PluginError(NotifykitError):
    """A plugin is broken: a hook implementation without a spec, a duplicate channel type, an
    unknown channel type named in config."""


class NotificationError(NotifykitError):
    """A ``notify()`` or ``send()`` call is invalid in itself: an unknown severity, a channel name that
    is not configured, a channel that cannot take a raw body. Raised before anything is sent."""


class ConfigNotFoundError(NotifykitError):
    """No configuration file was given and none was found (``NOTIFYKIT_CONFIG``, ``./notifykit.yaml``)."""


class ProviderError(NotifykitError):
    """A provider request made outside a notification failed (``notifykit status`` looking up a
    message or call); the message says what the provider answered. ``not_found`` is true when the
    provider does not know the id."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        self.not_found = not_found
        super().__init__(message)


class LedgerError(NotifykitError):
    """The ledger cannot be opened, read or written: a corrupt, locked or read-only database, a
    full disk, a schema from a newer notifykit. Raised by ``submit()`` and ``notify()`` before
    anything is accepted or sent (so the caller knows it was *not*); never carries a secret."""


class LedgerUnavailable(LedgerError):
    """The ledger is out of reach for now, and trying again later may work: the connection to
    the database was lost or refused (PostgreSQL restarting or failing over, PgBouncer
    restarting, a backend terminated, too many connections), the server is short of a resource
    (a full disk), or another process held the write lock past ``busy_timeout``. A worker
    retries these with backoff instead of stopping; anything else is a plain
    :class:`LedgerError`."""
