"""What a channel plugin implements and receives: channel types, providers, messages and results.

A *channel type* (``exotel-sms``, ``console``...) is registered by a plugin through the
``register_channel_types`` hook; the YAML config names *channels*, instances of a type with their
settings. The core renders one :class:`Message` per channel, lets the channel :meth:`~Channel.prepare`
it (validation that must happen before anything is sent), then hands it to :meth:`~Channel.send` with
every recipient at once, and gets one :class:`DeliveryResult` per recipient back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from notifykit.channels.stop import request_starting, send_stopped
from notifykit.config.settings import NoSettings, Settings, values_by_key
from notifykit.model import SEVERITIES, DeliveryState, assemble, severity_rank

__all__ = [
    "CAPABILITIES",
    "SEVERITIES",
    "AccountContext",
    "Channel",
    "ChannelContext",
    "ChannelType",
    "DeliveryResult",
    "DeliveryState",
    "Describer",
    "Limiter",
    "Message",
    "Provider",
    "ProviderError",
    "RateLimitedClient",
    "Recipient",
    "SharedLimiters",
    "StatusLookup",
    "StatusParser",
    "StatusUpdate",
    "TemplateSettings",
    "TextInspection",
    "by_severity",
    "check_capabilities",
    "request_starting",
    "send_stopped",
    "severity_rank",
    "wrap_rate_limiter",
]


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
    In a channel's ``send``, ``delivery_id`` is the id of the delivery the recipient's result is
    for: the same on every attempt of that delivery, so a channel can send it as an idempotency
    key (it takes no part in comparisons).
    """

    name: str | None
    phone: str | None
    display_name: str | None = None
    addresses: Mapping[str, str] = field(default_factory=dict, hash=False)
    delivery_id: str | None = field(default=None, compare=False)

    def address(self, kind: str) -> str | None:
        """The address this recipient has for a channel type's ``address`` kind (``"phone"``...)."""
        if kind == "phone":
            return self.phone
        return self.addresses.get(kind)

    @property
    def label(self) -> str:
        """A short human label: the config name, or the number for a raw recipient."""
        return self.name or self.phone or "?"


S = TypeVar("S", bound=Settings)


class TemplateSettings(Mapping[str, Any]):
    """The validated ``templates.<name>`` settings of a message's template: one object of each
    class plugins registered through ``register_template_settings`` (the Exotel plugin's
    ``SmsTemplateSettings``: ``dlt_template_id``, ``sms_type``, ``dlt_pattern``).

    ``of(cls)`` is a plugin's own, typed (its defaults when the template sets none of its keys);
    read as a mapping, it has every key that is set, by name."""

    __slots__ = ("_parts", "_values")

    def __init__(self, parts: Iterable[Settings] = ()) -> None:
        self._parts = {type(part): part for part in parts}
        self._values = {
            key: value
            for part in self._parts.values()
            for key, value in values_by_key(part).items()
            if value is not None
        }

    def of(self, cls: type[S]) -> S:
        """The settings of class ``cls`` (its defaults when the template sets none of them)."""
        part = self._parts.get(cls)
        return part if isinstance(part, cls) else cls()

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"TemplateSettings({self._values!r})"


@dataclass(frozen=True)
class TextInspection:
    """What a channel type's ``inspect`` found about a rendered text, for ``notifykit templates
    render``: ``ok`` (``False`` when the text would be refused), ``info`` (JSON values, merged
    into the command's ``--json`` output) and ``lines`` (what it prints)."""

    ok: bool
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message:
    """One rendered notification, as a channel sees it.

    ``text`` is the rendered body (``None`` for channels that carry no text, such as a call that
    connects two numbers); ``template`` the template it was rendered from (``"db_down.sms"``), or
    ``None`` for a raw body; ``info`` is what :meth:`Channel.prepare` found out about it (SMS encoding,
    length, segments...) and is copied into every delivery of the report.

    ``options`` are the provider options :meth:`Channel.prepare` chose (sender, priority, ids...):
    they are computed once, when the notification is planned, stored in the ledger with each
    delivery (so they must be JSON values), and given back to :meth:`Channel.send` unchanged, even
    when a worker sends it hours later in another process. ``status_callback`` is the URL the
    provider should report delivery status to (``None`` when no status server is configured);
    each batch gets its own, with an unguessable token in it.

    ``routing`` holds what routing adds to a routed notification's template variables
    (``labels``, ``alert_key``, ``status``, ``receiver``, ``ack_url``, ``alerts``: see
    ``docs/routing.md``); it is empty for a notification that was not routed. Only
    :meth:`Channel.prepare` sees it: what :meth:`Channel.send` needs of it, ``prepare`` puts in
    ``options`` (the ledger keeps those for a worker; it does not keep ``routing``).
    """

    event: str
    severity: str
    text: str | None
    template: str | None = None
    template_settings: TemplateSettings = field(default_factory=TemplateSettings, hash=False)
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    status_callback: str | None = None
    routing: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def with_info(self, **info: Any) -> Message:
        """A copy with ``info`` extended."""
        return dataclasses.replace(self, info={**self.info, **info})

    def with_options(self, **options: Any) -> Message:
        """A copy with ``options`` extended (JSON values only: they are stored in the ledger)."""
        return dataclasses.replace(self, options={**self.options, **options})


class ProviderError(Exception):
    """A provider's client did not get its request taken, or may not have: the base a channel
    plugin's client errors may share, which :meth:`DeliveryResult.from_error` turns into the
    delivery's result.

    ``code`` is the provider's error code when it gave one, ``http_status`` the HTTP status when
    there was an answer, ``retry_after`` the provider's hint in seconds. Each subclass says what
    failed in ``cause``, for whoever decides about another channel: ``account`` (the provider
    refused the account: its credentials, balance, standing; see :attr:`account`),
    ``recipient``, ``request`` (any other refusal, the default), ``template``, ``throttled``,
    ``connection`` (the provider was never reached: certainly not sent) or ``unknown`` (the
    request went out and no clear answer came back: it may have been sent, and is never sent
    again). ``retry``: certainly not processed, and worth trying again later. Messages never
    carry a secret."""

    retry = False
    cause = "request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def account(self) -> bool:
        """Whether the provider refused the *account*, not the recipient nor the request
        (``cause`` ``account``). A channel with a ``fallback`` hands such a message on
        (``DeliveryResult.failed(account=True)``, docs/failover.md)."""
        return self.cause == "account"

    @property
    def maybe_sent(self) -> bool:
        """Whether the request may have reached the provider (``cause`` ``unknown``)."""
        return self.cause == "unknown"


@dataclass(frozen=True)
class DeliveryResult:
    """What a channel reports for one recipient. Build with :meth:`sent`, :meth:`failed`...

    A ``failed`` result with ``transient=True`` was certainly not sent and may be retried (a
    refused connection, a rate limit); ``retry_after`` is the provider's hint in seconds. Every
    other ``failed`` result is permanent (the provider refused it: an invalid number, DND...).
    When the request may have reached the provider, the result is ``unknown``, never ``failed``.
    ``infrastructure`` names the part of our own infrastructure whose failure kept the message
    from going out at all (see :meth:`infrastructure_failure`). ``idempotent`` marks an
    ``unknown`` result whose request carried an idempotency key the receiver honours: sending it
    again cannot deliver it twice, so the retry policy sends it again (see :meth:`unknown`).
    ``account`` marks a permanent failure that lies with the provider account, not the
    recipient (authentication, KYC, balance, a suspended account): a channel with a
    ``fallback`` sends the message through it (docs/failover.md), and the account's circuit
    breaker counts it.
    """

    recipient: Recipient
    state: DeliveryState
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)
    transient: bool = False
    retry_after: float | None = None
    infrastructure: str | None = None
    idempotent: bool = False
    account: bool = False

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
        if cls is not DeliveryResult:  # a subclass may have fields or checks of its own
            return cls(recipient, DeliveryState.SENT, provider_id, provider_status, None, info)
        # A bulk send makes one per recipient: every field given, without the frozen
        # __init__'s per-field cost (2.3 us against 0.5 us; see model.assemble).
        return assemble(
            cls,
            {
                "recipient": recipient,
                "state": DeliveryState.SENT,
                "provider_id": provider_id,
                "provider_status": provider_status,
                "error": None,
                "info": info,
                "transient": False,
                "retry_after": None,
                "infrastructure": None,
                "idempotent": False,
                "account": False,
            },
        )

    @classmethod
    def failed(
        cls,
        recipient: Recipient,
        error: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
        account: bool = False,
        **info: Any,
    ) -> DeliveryResult:
        """Nothing was sent to ``recipient``; ``error`` says why (it must never contain a secret).
        ``transient``: it may succeed if retried later; ``account``: the provider refused the
        account, not the recipient (see the class docstring)."""
        return cls(
            recipient,
            DeliveryState.FAILED,
            None,
            None,
            error,
            info,
            transient=transient,
            retry_after=retry_after,
            account=account,
        )

    @property
    def provider_side(self) -> bool:
        """Whether this failure certainly sent nothing for a reason on the provider's side or
        ours, never the recipient's: the account was refused, or it was transient (a refused
        connection, throttling, our own infrastructure). What falls over to a fallback."""
        return self.state is DeliveryState.FAILED and (self.account or self.transient)

    @classmethod
    def infrastructure_failure(
        cls,
        recipient: Recipient,
        error: str,
        *,
        part: str,
        retry_after: float | None = None,
        **info: Any,
    ) -> DeliveryResult:
        """Nothing was sent to ``recipient`` because a part of our own infrastructure failed
        (``part``: ``"rate limiter"`` when the shared limiter's store refused a grant), not the
        provider or the recipient. A transient failure that the channel's retry policy retries
        within its deadline, ``notify()`` included (it leaves the delivery ``pending`` for a
        worker rather than ``failed``); and one that ends ``failed`` all the same never counts
        as the recipient not reached (an escalation does not move on for it)."""
        return cls(
            recipient,
            DeliveryState.FAILED,
            None,
            None,
            error,
            info,
            transient=True,
            retry_after=retry_after,
            infrastructure=part,
        )

    @classmethod
    def unknown(
        cls, recipient: Recipient, error: str, *, idempotent: bool = False, **info: Any
    ) -> DeliveryResult:
        """The request may have reached the provider (e.g. a read timeout): it may have been sent.

        Such a delivery stays ``unknown`` and is never sent again (unless the channel's ``retry:
        {on_unknown: resend}`` says so), except with ``idempotent=True``: the request carried an
        idempotency key (the recipient's ``delivery_id``) that the receiver honours, so the retry
        policy sends it again with the same key, as for a transient failure; past its deadline
        it stays ``unknown``."""
        return cls(recipient, DeliveryState.UNKNOWN, None, None, error, info, idempotent=idempotent)

    @classmethod
    def from_error(cls, recipient: Recipient, err: ProviderError) -> DeliveryResult:
        """A provider client's error as the result: ``unknown`` when it may have been sent
        (:attr:`ProviderError.maybe_sent`, never sent again), else ``failed``, ``transient``
        when ``err.retry`` (its text then starts ``not sent:``), with the provider's
        ``retry_after`` and ``account``; ``info`` has the ``cause``, the ``provider_code`` and
        the ``http_status`` the error carries."""
        info: dict[str, Any] = {"cause": err.cause}
        if err.code:
            info["provider_code"] = err.code
        if err.http_status is not None:
            info["http_status"] = err.http_status
        if err.maybe_sent:
            return cls.unknown(recipient, f"{err}: it may have been sent; not sent again", **info)
        text = str(err)
        if err.retry and not text.startswith("not sent"):
            text = f"not sent: {text}"
        return cls.failed(
            recipient,
            text,
            transient=err.retry,
            retry_after=err.retry_after,
            account=err.account,
            **info,
        )

    @classmethod
    def not_started(cls, recipient: Recipient, reason: str) -> DeliveryResult:
        """Its request was never started: the send was stopped first (:func:`send_stopped` or
        :func:`request_starting` answered ``reason``). Certainly not sent; the dispatcher gives
        it back (``pending``, for a worker)."""
        return cls(recipient, DeliveryState.PENDING, None, None, f"not sent: stopped ({reason})")

    @classmethod
    def skipped(cls, recipient: Recipient, reason: str) -> DeliveryResult:
        """Deliberately not sent (no address for this channel, vetoed...)."""
        return cls(recipient, DeliveryState.SKIPPED, None, None, reason)


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's report about one message it accepted, from a status callback or a lookup.

    ``state`` is where that puts the delivery: :attr:`DeliveryState.DELIVERED` or
    :attr:`DeliveryState.FAILED` for a final report, :attr:`DeliveryState.SENT` for "accepted,
    on its way", ``None`` for progress that changes nothing (``queued``, ``ringing``).
    ``provider_status`` is the provider's own word (Exotel's ``Status``), ``detail`` its detailed
    reason. ``info`` carries extras such as ``answered`` for calls.
    """

    provider_id: str
    state: DeliveryState | None
    provider_status: str | None = None
    detail: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)


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
        return one result per recipient, in order. Provider failures are results, not exceptions;
        an exception raised here makes every delivery of the batch ``unknown`` (it may have been
        sent), so catch what you can classify.

        A channel may also have the optional capabilities :class:`StatusParser`,
        :class:`StatusLookup` and :class:`Describer`, checked once when it is built (see
        :func:`check_capabilities`).
        """
        ...


@runtime_checkable
class StatusParser(Protocol):
    """Optional channel capability: read the status callbacks the provider POSTs to
    ``message.status_callback`` (``notifykit serve``)."""

    def parse_status(self, body: bytes, content_type: str) -> Sequence[StatusUpdate]:
        """The status updates in a callback's body; raise ``ValueError`` for a body that is
        not one (answered ``400``)."""
        ...


@runtime_checkable
class StatusLookup(Protocol):
    """Optional channel capability: ask the provider where a message stands (``notifykit
    reconcile``, for deliveries whose callback never came)."""

    def lookup_status(self, provider_id: str) -> StatusUpdate | None:
        """The message's status; ``None`` when the provider cannot tell."""
        ...


@runtime_checkable
class Describer(Protocol):
    """Optional channel capability: say what a delivery of a message would use, in the
    channel's own terms, for ``notifykit routes test`` and ``kit.explain()``: the core knows no
    provider's option names."""

    def describe(self, message: Message) -> Mapping[str, Any]:
        """What the channel would send ``message`` with (``message.severity`` picks it), as JSON
        values: ``from`` (the sender or caller id people see) and ``priority`` when the channel
        has them, and any other keys worth showing (never a secret). A channel without this
        capability is shown with ``from`` and ``priority`` empty."""
        ...


#: capability -> (its protocol, the arguments it is called with)
CAPABILITIES: dict[str, tuple[type, tuple[str, ...]]] = {
    "parse_status": (StatusParser, ("body", "content_type")),
    "lookup_status": (StatusLookup, ("provider_id",)),
    "describe": (Describer, ("message",)),
}


def check_capabilities(channel: object, channel_name: str, type_name: str) -> frozenset[str]:
    """The optional capabilities ``channel`` has (``parse_status``...), each checked once, when
    the channel is built: a capability's method must take its arguments positionally.

    :raises PluginError: a capability's name is not a method, or one that cannot be called
        with its arguments (a typo'd or stale signature would otherwise fail on the first
        status callback, hours later).
    """
    import inspect

    from notifykit.errors import PluginError

    found = set()
    for name, (protocol, arguments) in CAPABILITIES.items():
        method = getattr(channel, name, None)
        if method is None:
            continue
        where = f"channel {channel_name!r} (type {type_name!r})"
        wanted = f"{name}({', '.join(arguments)}), as {protocol.__name__} declares"
        if not callable(method):
            raise PluginError(f"{where}: {name} is not a method: write {wanted}")
        try:
            inspect.signature(method).bind(*arguments)
        except TypeError as err:
            raise PluginError(f"{where}: {name} cannot be called as {wanted} ({err})") from None
        except ValueError:  # no signature to read (a builtin): trust it
            pass
        found.add(name)
    return frozenset(found)


class ChannelContext(Protocol):
    """What a channel factory gets besides its own settings (an instance of its type's
    ``settings`` class)."""

    @property
    def channel_name(self) -> str:
        """The channel's name in the config (``sms``, ``ivr``...)."""
        ...

    def client(self, account: str) -> Any:
        """The shared, pooled client of a configured account (one per account, built on first use)."""
        ...

    def account_settings(self, account: str) -> Settings:
        """The validated settings of a configured account (its provider's ``settings`` class,
        secrets included)."""
        ...


@runtime_checkable
class Limiter(Protocol):
    """What a provider client calls around each request to keep to a rate limit (the Exotel
    plugin's ``RateLimiter`` has this shape, and so has a shared limiter)."""

    def acquire(self) -> float:
        """Wait for a slot of the budget; returns the seconds waited."""
        ...

    def release(self) -> None:
        """The request this thread last acquired for has finished (answered or failed)."""
        ...


class SharedLimiters(Protocol):
    """``context.rate_limiter`` of a provider's ``connect`` (with ``limiter:`` in the config):
    call it with the account's identity on the provider's side and its budget, and get the one
    :class:`Limiter` every process and host shares for that account."""

    def __call__(
        self, account: str, limit: int, window: float, *, local: Limiter | None = None
    ) -> Limiter:
        """``local``: the provider's own limiter with the same budget, which grants while the
        shared store is unreachable."""
        ...


@runtime_checkable
class RateLimitedClient(Protocol):
    """A provider client that keeps to a rate limit declares it by exposing its
    :class:`Limiter` as ``rate_limiter`` (``None`` for none) and calling it around each
    request: notifykit then observes its waits (metrics, the command line's ``-v`` and progress
    line) by wrapping it, see :func:`wrap_rate_limiter`. A client without the attribute is
    simply not observed."""

    rate_limiter: Limiter | None


def wrap_rate_limiter(client: object, wrap: Callable[[Limiter], Limiter]) -> bool:
    """Replace the rate limiter of ``client`` (a :class:`RateLimitedClient`) by ``wrap(it)``:
    whether it had one to wrap."""
    if not isinstance(client, RateLimitedClient):
        return False
    limiter = client.rate_limiter
    if limiter is None or not callable(getattr(limiter, "acquire", None)):
        return False
    client.rate_limiter = wrap(limiter)
    return True


class AccountContext(Protocol):
    """What a provider's ``connect`` gets besides the account's settings."""

    @property
    def account_name(self) -> str:
        """The account's name in the config (``main``...)."""
        ...

    @property
    def rate_limiter(self) -> SharedLimiters | None:
        """With ``limiter:`` in the config, the factory of the rate limit every process and host
        shares for the account (see ``docs/plugins.md``); ``None`` without it, and in sandbox
        mode."""
        ...


#: builds a channel from its settings (an instance of the type's ``settings`` class)
ChannelFactory = Callable[[Any, ChannelContext], Channel]


@dataclass(frozen=True)
class ChannelType:
    """A kind of channel a plugin offers, registered through ``register_channel_types``.

    :param name: the ``type:`` value in config, e.g. ``"exotel-sms"``.
    :param factory: builds a :class:`Channel` from its settings (an instance of ``settings``) and
        a :class:`ChannelContext`; called once per configured channel, at config load.
    :param settings: the class declaring the channel's settings (besides ``type`` and
        ``retry``), a :class:`~notifykit.config.settings.Settings` subclass: the core reads the
        YAML into it with line numbers and "did you mean" hints.
    :param kind: what the channel delivers (``"sms"``, ``"call"``, ``"flow"``, ``"text"``...): the CLI's
        ``send KIND`` picks channels by it.
    :param template_suffix: which template variant it renders (``"sms"`` renders ``db_down.sms``,
        ``"voice"`` renders ``db_down.voice``); ``None`` for channels that carry no text.
    :param address: which recipient address it uses: ``"phone"`` or a key of a recipient's
        ``addresses`` mapping.
    :param provider: the provider whose accounts its ``account`` setting must name (``"exotel"``).
    :param inspect: optional; ``inspect(text, template_settings) -> TextInspection`` checks a
        rendered text the way the channel's ``prepare`` would (length, encoding, registered
        patterns), without a configured channel: ``notifykit templates render`` calls it.
    :param sandbox: optional; for a channel type that sends without a provider account (a
        webhook): a context manager factory that starts a throwaway fake of what it sends to and
        yields channel settings overrides (``url``, ``secret``...), applied to every channel of
        the type in ``--sandbox`` mode.
    :param sandbox_keys: the channel keys the sandbox replaces: they need not be set (nor their
        ``${ENV}`` variables) in sandbox mode.

    A channel with a ``close()`` method has it called when the Notifier closes.
    """

    name: str
    factory: ChannelFactory
    settings: type[Settings] = NoSettings
    kind: str = "text"
    template_suffix: str | None = "sms"
    address: str = "phone"
    provider: str | None = None
    description: str = ""
    inspect: Callable[[str, TemplateSettings], TextInspection] | None = None
    sandbox: SandboxFactory | None = None
    sandbox_keys: frozenset[str] = frozenset()


SandboxFactory = Callable[[], AbstractContextManager[Mapping[str, Any]]]
"""Starts a throwaway provider simulator (or fake receiver); yields the account (or channel)
settings that point at it."""


@dataclass(frozen=True)
class Provider:
    """A provider of accounts (``accounts:`` entries with ``provider: <name>``).

    :param name: the ``provider:`` value, e.g. ``"exotel"``.
    :param settings: the class declaring an account's settings (besides ``provider``), a
        :class:`~notifykit.config.settings.Settings` subclass.
    :param connect: ``connect(settings, context)`` builds the account's client from its settings
        (an instance of ``settings``) and an :class:`AccountContext`; called at most once per
        account and Notifier, and the client is shared by every channel using the account.
        If the client has a ``close()`` method it is called when the Notifier closes.
    :param sandbox: optional; a context manager factory that starts a throwaway simulator and yields
        settings overrides (``sid``, ``token``, ``base_url``...) applied to every account of the
        provider in ``--sandbox`` mode. Keys it overrides need not be set (nor their
        ``${ENV}`` variables) in sandbox mode.
    :param sandbox_keys: the account keys the sandbox replaces.
    :param lookup: optional; ``lookup(client, sid, kind)`` returns a status mapping for a message or
        call id, for ``notifykit status`` (``kind`` is ``None`` to try every kind).
    :param quiet_loggers: loggers whose records below WARNING the command line never shows,
        not even with ``-v`` (a sandbox simulator's request lines, which repeat the client's);
        a logger's children are included.
    """

    name: str
    settings: type[Settings]
    connect: Callable[[Any, AccountContext], Any]
    sandbox: SandboxFactory | None = None
    sandbox_keys: frozenset[str] = frozenset()
    lookup: Callable[[Any, str, str | None], Mapping[str, Any]] | None = None
    description: str = ""
    quiet_loggers: tuple[str, ...] = ()
