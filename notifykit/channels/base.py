"""What a channel plugin implements and receives: channel types, providers, messages and results.

A *channel type* (``exotel-sms``, ``console``...) is registered by a plugin through the
``register_channel_types`` hook; the YAML config names *channels*, instances of a type with their
settings. The core renders one :class:`Message` per channel, lets the channel :meth:`~Channel.prepare`
it (validation that must happen before anything is sent), then hands it to :meth:`~Channel.send` with
every recipient at once, and gets one :class:`DeliveryResult` per recipient back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from notifykit.config.schema import Field

__all__ = [
    "SEVERITIES",
    "Channel",
    "ChannelContext",
    "ChannelType",
    "DeliveryResult",
    "DeliveryStatus",
    "Message",
    "Provider",
    "Recipient",
    "TemplateSettings",
    "by_severity",
    "severity_rank",
]

#: The severities a notification can have, lowest first. Channels pick senders, caller ids and
#: priorities by severity; :class:`~notifykit.NotifyHandler` maps logging levels onto them.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")

DeliveryStatus = Literal["sent", "failed", "unknown", "skipped", "dry-run"]
"""``sent``: the provider accepted it. ``failed``: it was not sent. ``unknown``: the request may or may
not have reached the provider (a timeout after sending). ``skipped``: vetoed by a ``before_delivery``
hook or not addressable by the channel. ``dry-run``: rendered and routed, deliberately not sent."""


def severity_rank(severity: str) -> int:
    """The position of ``severity`` in :data:`SEVERITIES` (raises ``ValueError`` if unknown)."""
    return SEVERITIES.index(severity)


def by_severity(table: Mapping[str, Any], severity: str) -> Any:
    """Pick a value from a severity-keyed table: the entry for ``severity`` itself, else the entry of
    the highest configured severity below it, else ``table["default"]``.

    So ``{default: A, error: B}`` gives ``B`` for ``error`` and ``critical``, ``A`` for the rest.
    """
    rank = severity_rank(severity)
    for candidate in reversed(SEVERITIES[: rank + 1]):
        if candidate in table:
            return table[candidate]
    return table["default"]


@dataclass(frozen=True)
class Recipient:
    """A person (or a raw number) a notification goes to.

    ``name`` is the config key (``None`` for a raw phone number given in ``to=``), ``phone`` the E.164
    number, ``addresses`` extra addresses for channels that do not use phones (``email``, ``slack``...).
    """

    name: str | None
    phone: str | None
    display_name: str | None = None
    addresses: Mapping[str, str] = field(default_factory=dict, hash=False)

    def address(self, kind: str) -> str | None:
        """The address this recipient has for a channel type's ``address`` kind (``"phone"``...)."""
        if kind == "phone":
            return self.phone
        return self.addresses.get(kind)

    @property
    def label(self) -> str:
        """A short human label: the config name, or the number for a raw recipient."""
        return self.name or self.phone or "?"


@dataclass(frozen=True)
class TemplateSettings:
    """Per-template settings from the config's ``templates:`` section (all optional).

    ``dlt_template_id`` and ``sms_type`` are sent with every SMS rendered from the template;
    ``dlt_pattern`` is the registered DLT text the rendered body must match before it is sent.
    """

    dlt_template_id: str | None = None
    sms_type: str | None = None
    dlt_pattern: str | None = None


@dataclass(frozen=True)
class Message:
    """One rendered notification, as a channel sees it.

    ``text`` is the rendered body (``None`` for channels that carry no text, such as a call that
    connects two numbers); ``template`` the template it was rendered from (``"db_down.sms"``), or
    ``None`` for a raw body; ``info`` is what :meth:`Channel.prepare` found out about it (SMS encoding,
    length, segments...) and is copied into every delivery of the report.
    """

    event: str
    severity: str
    text: str | None
    template: str | None = None
    template_settings: TemplateSettings = field(default_factory=TemplateSettings)
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def with_info(self, **info: Any) -> Message:
        """A copy with ``info`` extended."""
        return dataclasses.replace(self, info={**self.info, **info})


@dataclass(frozen=True)
class DeliveryResult:
    """What a channel reports for one recipient. Build with :meth:`sent`, :meth:`failed`..."""

    recipient: Recipient
    status: DeliveryStatus
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def sent(
        cls,
        recipient: Recipient,
        *,
        provider_id: str | None = None,
        provider_status: str | None = None,
        **info: Any,
    ) -> DeliveryResult:
        """The provider accepted the message for ``recipient``."""
        return cls(recipient, "sent", provider_id, provider_status, None, info)

    @classmethod
    def failed(cls, recipient: Recipient, error: str, **info: Any) -> DeliveryResult:
        """Nothing was sent to ``recipient``; ``error`` says why (it must never contain a secret)."""
        return cls(recipient, "failed", None, None, error, info)

    @classmethod
    def unknown(cls, recipient: Recipient, error: str, **info: Any) -> DeliveryResult:
        """The request may have reached the provider (e.g. a read timeout): it may have been sent."""
        return cls(recipient, "unknown", None, None, error, info)

    @classmethod
    def skipped(cls, recipient: Recipient, reason: str) -> DeliveryResult:
        """Deliberately not sent (no address for this channel, vetoed...)."""
        return cls(recipient, "skipped", None, None, reason)


@runtime_checkable
class Channel(Protocol):
    """A configured channel instance, built once at config load by its type's factory."""

    def prepare(self, message: Message) -> Message:
        """Check and annotate a rendered message before anything is sent.

        Raise a :class:`~notifykit.errors.TemplateError` subclass (too long, DLT mismatch...) to stop
        the whole notification; return the message, possibly with ``info`` added, otherwise.
        Called for dry runs too.
        """
        ...

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        """Send ``message`` to every recipient (one batch, so providers can use bulk endpoints) and
        return one result per recipient. Provider failures are results, not exceptions."""
        ...


class ChannelContext(Protocol):
    """What a channel factory gets besides its own settings."""

    @property
    def channel_name(self) -> str:
        """The channel's name in the config (``sms``, ``ivr``...)."""
        ...

    def client(self, account: str) -> Any:
        """The shared, pooled client of a configured account (one per account, built on first use)."""
        ...

    def account_settings(self, account: str) -> Mapping[str, Any]:
        """The validated settings of a configured account (with secrets)."""
        ...


ChannelFactory = Callable[[Mapping[str, Any], ChannelContext], Channel]


@dataclass(frozen=True)
class ChannelType:
    """A kind of channel a plugin offers, registered through ``register_channel_types``.

    :param name: the ``type:`` value in config, e.g. ``"exotel-sms"``.
    :param factory: builds a :class:`Channel` from its validated settings and a
        :class:`ChannelContext`; called once per configured channel, at config load.
    :param settings: the schema of the channel's settings (besides ``type``), so the core validates
        them with line numbers and "did you mean" hints. See :mod:`notifykit.config.schema`.
    :param kind: what the channel delivers (``"sms"``, ``"call"``, ``"flow"``, ``"text"``...): the CLI's
        ``send KIND`` picks channels by it.
    :param template_suffix: which template variant it renders (``"sms"`` renders ``db_down.sms``,
        ``"voice"`` renders ``db_down.voice``); ``None`` for channels that carry no text.
    :param address: which recipient address it uses: ``"phone"`` or a key of a recipient's
        ``addresses`` mapping.
    :param provider: the provider whose accounts its ``account`` setting must name (``"exotel"``).
    """

    name: str
    factory: ChannelFactory
    settings: Mapping[str, Field] = field(default_factory=dict, hash=False)
    kind: str = "text"
    template_suffix: str | None = "sms"
    address: str = "phone"
    provider: str | None = None
    description: str = ""


SandboxFactory = Callable[[], AbstractContextManager[Mapping[str, Any]]]
"""Starts a throwaway provider simulator; yields the account settings that point at it."""


@dataclass(frozen=True)
class Provider:
    """A provider of accounts (``accounts:`` entries with ``provider: <name>``).

    :param name: the ``provider:`` value, e.g. ``"exotel"``.
    :param settings: the schema of an account's settings (besides ``provider``).
    :param connect: builds the account's client from its validated settings; called at most once per
        account and Notifier, and the client is shared by every channel using the account.
        If the client has a ``close()`` method it is called when the Notifier closes.
    :param sandbox: optional; a context manager factory that starts a throwaway simulator and yields
        settings overrides (``sid``, ``token``, ``base_url``...) applied to every account of the
        provider in ``--sandbox`` mode. Keys it overrides need not be set (nor their
        ``${ENV}`` variables) in sandbox mode.
    :param sandbox_keys: the account keys the sandbox replaces.
    :param lookup: optional; ``lookup(client, sid, kind)`` returns a status mapping for a message or
        call id, for ``notifykit status`` (``kind`` is ``None`` to try every kind).
    """

    name: str
    settings: Mapping[str, Field]
    connect: Callable[[Mapping[str, Any]], Any]
    sandbox: SandboxFactory | None = None
    sandbox_keys: frozenset[str] = frozenset()
    lookup: Callable[[Any, str, str | None], Mapping[str, Any]] | None = None
    description: str = ""
