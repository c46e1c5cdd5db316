"""The :class:`Notifier`: resolves, renders, then sends a notification and reports every delivery.

``notify()`` works in two phases. First everything that can be the caller's mistake is checked, and
raised as an exception, before anything is sent: the recipients are resolved (names, groups or raw
numbers), the channels picked, every message rendered for every channel and checked by its channel
(length, DLT pattern). Then, channel by channel, the message goes to all of that channel's
recipients in one batch (so a provider can use its bulk endpoint), with the ``before_delivery`` and
``after_delivery`` hooks around each delivery. Failures while sending are never raised: each is a
``failed`` (or ``unknown``) delivery in the :class:`~notifykit.Report`.

Everything that can be done once is done in :meth:`Notifier.from_config`: config validation, the
template engine (which caches compiled templates), the channel objects, groups expanded. Provider
clients (one pooled client per account) are created on first use and shared.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import pluggy

from notifykit.channels import (
    SEVERITIES,
    Channel,
    ChannelType,
    DeliveryResult,
    Message,
    Recipient,
)
from notifykit.config.loader import Config, find_config, load_config, looks_like_phone
from notifykit.config.schema import did_you_mean, parse_phone, scrubber
from notifykit.errors import (
    ConfigError,
    ConfigProblem,
    NotificationError,
    NotifykitError,
    PluginError,
    RecipientError,
)
from notifykit.plugins import Hooks, Registry, get_plugin_manager
from notifykit.report import Delivery, Notification, Report

__all__ = ["Notifier", "anotify", "configure", "get_notifier", "notify", "template_context"]

logger = logging.getLogger("notifykit")
#: One record per notification: INFO when every delivery succeeded, WARNING otherwise.
delivery_logger = logging.getLogger("notifykit.deliveries")

DataArg = Mapping[str, Any] | None
ToArg = str | Iterable[str] | None


@dataclass(frozen=True)
class _Batch:
    """One channel's share of a notification: its prepared message and recipients."""

    name: str
    channel: Channel
    channel_type: ChannelType
    message: Message
    recipients: tuple[Recipient, ...]


class _Context:
    """The :class:`~notifykit.channels.ChannelContext` a channel factory gets."""

    def __init__(self, notifier: Notifier, channel_name: str) -> None:
        self._notifier = notifier
        self._channel_name = channel_name

    @property
    def channel_name(self) -> str:
        return self._channel_name

    def client(self, account: str) -> Any:
        return self._notifier._client(account)

    def account_settings(self, account: str) -> Mapping[str, Any]:
        return self._notifier._account_settings[account]


class Notifier:
    """Sends notifications as a configuration says. Build it with :meth:`from_config`.

    A Notifier is thread-safe and meant to live as long as the application: it holds the pooled
    provider clients. Close it (or use it as a context manager) to release them, and to stop the
    simulator in sandbox mode.
    """

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        dry_run: bool = False,
        account_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        exit_stack: ExitStack | None = None,
        extra_secrets: Iterable[str] = (),
    ) -> None:
        self.config = config
        self.registry = registry
        self.dry_run = dry_run
        self._hooks = Hooks(registry.pm)
        self._exit_stack = exit_stack or ExitStack()
        self._closed = False
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        overrides = account_overrides or {}
        self._account_settings: dict[str, Mapping[str, Any]] = {
            name: {**account.settings, **overrides.get(name, {})}
            for name, account in config.accounts.items()
        }
        self._scrub = scrubber([*config.secrets, *extra_secrets])
        # Every phone number the config names, parsed once here: libphonenumber costs more than
        # the rest of a notification, and a group of raw numbers would otherwise be parsed again
        # on every notify().
        self._numbers: dict[str, Recipient] = {}
        config_targets = [
            *config.defaults.to,
            *(t for event in config.events.values() for t in event.to or ()),
            *(m for members in config.groups.values() for m in members),
        ]
        for target in config_targets:
            if looks_like_phone(target) and target not in self._numbers:
                self._numbers[target] = self._raw_recipient(target)
        self._groups: dict[str, tuple[Recipient, ...]] = {
            name: tuple(config.recipients.get(m) or self._numbers[m] for m in members)
            for name, members in config.groups.items()
        }
        self._channel_types: dict[str, ChannelType] = {}
        self._channels: dict[str, Channel] = {}
        problems: list[ConfigProblem] = []
        for name, channel_config in config.channels.items():
            channel_type = registry.channel_types[channel_config.type]
            self._channel_types[name] = channel_type
            try:
                self._channels[name] = channel_type.factory(
                    channel_config.settings, _Context(self, name)
                )
            except ConfigError as err:  # its account's settings were refused (see _client)
                problems.extend(p for p in err.problems if p not in problems)
            except NotifykitError:
                raise
            except (ValueError, TypeError) as err:
                problems.append(
                    ConfigProblem(
                        config.source,
                        channel_config.line,
                        f"channels.{name}",
                        self._scrub(str(err)),
                    )
                )
        if problems:
            self.close()
            raise ConfigError(problems)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        sandbox: bool = False,
        dry_run: bool = False,
        plugin_manager: pluggy.PluginManager | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Notifier:
        """Load and validate a config and build every channel.

        :param source: a file path, or a mapping with the same shape as the YAML; by default
            ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``.
        :param sandbox: run against throwaway provider simulators (each provider's sandbox
            factory); account secrets and ``${VAR}`` references it replaces need not be set.
        :param dry_run: render and route, but send nothing (deliveries are ``dry-run``).
        :param plugin_manager: the plugins to use (default: :func:`get_plugin_manager`).
        :param environ: the environment for ``${VAR}`` substitution (default ``os.environ``).
        :raises ConfigError: with every problem found in the config.
        :raises PluginError: a plugin failed to load.
        """
        if source is None:
            source = find_config()
        pm = plugin_manager if plugin_manager is not None else get_plugin_manager()
        registry = Registry.from_manager(pm)
        config = load_config(source, registry=registry, sandbox=sandbox, environ=environ)
        stack = ExitStack()
        overrides: dict[str, Mapping[str, Any]] = {}
        secrets: list[str] = []
        try:
            if sandbox:
                overrides, secrets = _start_sandboxes(config, registry, stack)
            return cls(
                config,
                registry,
                dry_run=dry_run,
                account_overrides=overrides,
                exit_stack=stack,
                extra_secrets=secrets,
            )
        except BaseException:
            stack.close()
            raise

    def close(self) -> None:
        """Close the provider clients and stop sandboxes. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        self._exit_stack.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = " sandbox" if self.config.sandbox else ""
        mode += " dry-run" if self.dry_run else ""
        return f"<Notifier {self.config.source!r} channels={list(self._channels)}{mode}>"

    def _client(self, account: str) -> Any:
        with self._lock:
            if self._closed:
                raise NotifykitError("this Notifier is closed")
            client = self._clients.get(account)
            if client is None:
                account_config = self.config.accounts[account]
                provider = self.registry.providers[account_config.provider]
                try:
                    client = provider.connect(self._account_settings[account])
                except (ValueError, TypeError) as err:
                    # The provider refused settings the schema let through (an http:// base_url
                    # that is not loopback...): a problem of the account, at the account's line.
                    problem = ConfigProblem(
                        self.config.source,
                        account_config.line,
                        f"accounts.{account}",
                        self._scrub(str(err)),
                    )
                    raise ConfigError([problem]) from err
                self._clients[account] = client
            return client

    # -- public API -------------------------------------------------------------------------

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The configured channels, by name."""
        return dict(self._channels)

    def channel_type(self, channel: str) -> ChannelType:
        """The :class:`ChannelType` of a configured channel."""
        self._check_channels([channel])
        return self._channel_types[channel]

    def client(self, account: str) -> Any:
        """The shared client of a configured account (e.g. an ``ExotelClient``)."""
        if account not in self.config.accounts:
            raise NotificationError(
                f"no account named {account!r}{did_you_mean(account, self.config.accounts)}"
            )
        return self._client(account)

    def notify(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
    ) -> Report:
        """Send a notification for ``event`` and report what happened to every delivery.

        Anything not given comes from the event's entry in ``events:``, then from ``defaults:``.

        :param event: what happened, e.g. ``"db.down"``; also the template variable ``event``.
        :param severity: ``info``, ``warning``, ``error`` or ``critical``.
        :param data: the template's variables (also available as ``data`` in templates).
        :param to: recipient names, group names, or phone numbers (E.164, or Indian national
            numbers); a string is one recipient.
        :param channels: channel names from ``channels:``.
        :param template: the template name (``db_down`` renders ``db_down.sms`` for SMS channels
            and ``db_down.voice`` for flow channels).
        :raises RecipientError: an unknown recipient or group, or an invalid number.
        :raises NotificationError: an unknown severity or channel, or no channel or recipient.
        :raises TemplateError: a template is missing, fails to render, is too long or does not
            match its DLT pattern. Nothing has been sent when any of these is raised.
        """
        event_config = self.config.events.get(event)
        defaults = self.config.defaults
        severity = severity or (event_config and event_config.severity) or defaults.severity
        channel_names = _names(channels)
        if channel_names is None:
            channel_names = (
                event_config.channels
                if event_config and event_config.channels is not None
                else defaults.channels
            )
        targets = _names(to)
        if targets is None:
            targets = (
                event_config.to if event_config and event_config.to is not None else defaults.to
            )
        template = template or (event_config and event_config.template) or defaults.template
        return self._run(event, severity, data, targets, channel_names, template, None)

    def send(
        self,
        channel: str,
        *,
        to: ToArg,
        body: str | None = None,
        template: str | None = None,
        data: DataArg = None,
        severity: str = "info",
        event: str = "direct",
    ) -> Report:
        """Send one message through one channel: a raw ``body``, or a rendered ``template``.

        A call channel that carries no text takes neither. Raises like :meth:`notify`.
        """
        if body is not None and template is not None:
            raise NotificationError("give a body or a template, not both")
        targets = _names(to) or ()
        if body is None and template is None:
            template = self.config.defaults.template
        return self._run(event, severity, data, targets, (channel,), template, body)

    async def anotify(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
    ) -> Report:
        """:meth:`notify` for asyncio code: the blocking work runs in a worker thread, so the event
        loop keeps running while messages are sent."""
        import asyncio  # here, not at module level: it costs sync users ~20 ms of import time

        return await asyncio.to_thread(
            self.notify,
            event,
            severity=severity,
            data=data,
            to=to,
            channels=channels,
            template=template,
        )

    # -- planning: everything that can fail because of the caller, before sending -------------

    def _check_channels(self, names: Sequence[str]) -> None:
        for name in names:
            if name not in self._channels:
                hint = did_you_mean(name, self._channels)
                known = ", ".join(self._channels) or "none"
                raise NotificationError(
                    f"no channel named {name!r}{hint}; configured channels: {known}"
                )

    def resolve_recipients(self, targets: Iterable[str]) -> list[Recipient]:
        """Recipient names, group names and phone numbers as :class:`Recipient` objects, each
        person once, in order. Raises :class:`RecipientError` for anything unknown or invalid."""
        result: list[Recipient] = []
        seen: set[str] = set()

        def add(recipient: Recipient) -> None:
            key = recipient.phone or f"name:{recipient.name}"
            if key not in seen:
                seen.add(key)
                result.append(recipient)

        for target in targets:
            if not isinstance(target, str):
                raise RecipientError(f"recipients are names or phone numbers, got {target!r}")
            if looks_like_phone(target):
                add(self._numbers.get(target) or self._raw_recipient(target))
            elif target in self.config.recipients:
                add(self.config.recipients[target])
            elif target in self._groups:
                for member in self._groups[target]:
                    add(member)
            else:
                names = [*self.config.recipients, *self.config.groups]
                raise RecipientError(
                    f"no recipient or group named {target!r}{did_you_mean(target, names)}"
                )
        return result

    @staticmethod
    def _raw_recipient(number: str) -> Recipient:
        phone = parse_phone(number)
        if phone is None:
            raise RecipientError(f"{number!r} is not a valid phone number")
        return Recipient(name=None, phone=phone)

    def _run(
        self,
        event: str,
        severity: str,
        data: DataArg,
        targets: Sequence[str],
        channel_names: Sequence[str],
        template: str | None,
        body: str | None,
    ) -> Report:
        if severity not in SEVERITIES:
            raise NotificationError(
                f"unknown severity {severity!r}{did_you_mean(severity, SEVERITIES)}; use one of "
                + ", ".join(SEVERITIES)
            )
        if not channel_names:
            raise NotificationError(
                f"no channels for event {event!r}: pass channels=..., or set them in "
                f"events.{event}.channels or defaults.channels"
            )
        self._check_channels(channel_names)
        recipients = tuple(self.resolve_recipients(targets))
        if not recipients:
            raise RecipientError(
                f"no recipients for event {event!r}: pass to=..., or set them in "
                f"events.{event}.to or defaults.to"
            )
        data = dict(data or {})
        batches = self._prepare(event, severity, data, channel_names, template, body, recipients)
        notification = Notification(
            event=event,
            severity=severity,
            data=data,
            template=template if body is None else None,
            channels=tuple(channel_names),
            recipients=tuple(r.label for r in recipients),
            dry_run=self.dry_run,
        )
        deliveries: list[Delivery] = []
        for batch in batches:
            deliveries.extend(self._deliver(batch, notification))
        messages = {batch.name: batch.message.text for batch in batches}
        report = Report(event, severity, tuple(deliveries), self.dry_run, messages)
        delivery_logger.log(logging.INFO if report.ok else logging.WARNING, "%s", report.summary())
        return report

    def _prepare(
        self,
        event: str,
        severity: str,
        data: dict[str, Any],
        channel_names: Sequence[str],
        template: str | None,
        body: str | None,
        recipients: tuple[Recipient, ...],
    ) -> list[_Batch]:
        engine = self.config.template_engine
        context = template_context(event, severity, data)
        rendered: dict[str, str] = {}
        batches: list[_Batch] = []
        settings = self.config.template_settings(template) if template and body is None else None
        for name in channel_names:
            channel_type = self._channel_types[name]
            suffix = channel_type.template_suffix
            text: str | None = None
            qualified: str | None = None
            if body is not None:
                if suffix is None:
                    raise NotificationError(
                        f"channel {name!r} ({channel_type.name}) sends no text; leave out the body"
                    )
                text = body
            elif suffix is not None and template is not None:
                qualified = f"{template}.{suffix}"
                if qualified not in rendered:
                    rendered[qualified] = engine.render(qualified, context)
                text = rendered[qualified]
            message = Message(
                event=event,
                severity=severity,
                text=text,
                template=qualified,
                template_settings=settings or self.config.template_settings(""),
                data=data,
            )
            channel = self._channels[name]
            try:
                message = channel.prepare(message)
            except NotifykitError:
                raise
            except Exception as err:
                raise PluginError(
                    f"channel {name!r} ({channel_type.name}) failed to prepare the message: "
                    f"{type(err).__name__}: {self._scrub(str(err))}"
                ) from err
            batches.append(_Batch(name, channel, channel_type, message, recipients))
        return batches

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, batch: _Batch, notification: Notification) -> list[Delivery]:
        results: dict[int, DeliveryResult] = {}
        to_send: list[tuple[int, Recipient]] = []
        for index, recipient in enumerate(batch.recipients):
            address = recipient.address(batch.channel_type.address)
            if address is None:
                results[index] = DeliveryResult.skipped(
                    recipient, f"no {batch.channel_type.address} address for {recipient.label}"
                )
                continue
            pending = Delivery(
                channel=batch.name,
                channel_type=batch.channel_type.name,
                recipient=recipient.label,
                address=address,
                status="pending",
                info=batch.message.info,
            )
            try:
                vetoes = self._hooks.before_delivery(pending, notification)
            except Exception as err:
                logger.exception("a before_delivery hook failed")
                results[index] = DeliveryResult.failed(
                    recipient, f"before_delivery hook failed: {type(err).__name__}: {err}"
                )
                continue
            if vetoes:
                results[index] = DeliveryResult.skipped(recipient, "; ".join(vetoes))
                continue
            to_send.append((index, recipient))
        if to_send:
            recipients = [r for _, r in to_send]
            if self.dry_run:
                sent = [DeliveryResult(r, "dry-run") for r in recipients]
            else:
                sent = self._send(batch, recipients)
            for (index, _), result in zip(to_send, sent, strict=True):
                results[index] = result
        deliveries = [self._delivery(batch, results[i]) for i in range(len(batch.recipients))]
        for delivery in deliveries:
            self._hooks.after_delivery(delivery, notification)  # never raises
        return deliveries

    def _send(self, batch: _Batch, recipients: list[Recipient]) -> list[DeliveryResult]:
        """The channel's results, one per recipient in order, whatever the channel does."""
        try:
            returned = list(batch.channel.send(batch.message, recipients))
        except Exception as err:
            logger.warning(
                "channel %r (%s) raised %s while sending",
                batch.name,
                batch.channel_type.name,
                type(err).__name__,
            )
            error = f"{type(err).__name__}: {err}"
            return [DeliveryResult.failed(r, error) for r in recipients]
        by_recipient: dict[int, DeliveryResult] = {}
        for result in returned:
            for position, recipient in enumerate(recipients):
                if position not in by_recipient and result.recipient == recipient:
                    by_recipient[position] = result
                    break
        return [
            by_recipient.get(i)
            or DeliveryResult.failed(r, f"channel {batch.name!r} returned no result for it")
            for i, r in enumerate(recipients)
        ]

    def _delivery(self, batch: _Batch, result: DeliveryResult) -> Delivery:
        return Delivery(
            channel=batch.name,
            channel_type=batch.channel_type.name,
            recipient=result.recipient.label,
            address=result.recipient.address(batch.channel_type.address),
            status=result.status,
            provider_id=result.provider_id,
            provider_status=result.provider_status,
            error=self._scrub(result.error) if result.error else None,
            info={**batch.message.info, **result.info},
        )


def template_context(event: str, severity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a template sees: every data key, plus ``data`` (the whole mapping),
    ``event``, ``severity`` and ``now`` (the current time, an aware UTC datetime). The last four
    win over data keys of the same name."""
    return {
        **data,
        "data": data,
        "event": event,
        "severity": severity,
        "now": datetime.now(timezone.utc),
    }


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _start_sandboxes(
    config: Config, registry: Registry, stack: ExitStack
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Start one sandbox per provider in use; return per-account overrides and their secrets."""
    per_provider: dict[str, Mapping[str, Any]] = {}
    overrides: dict[str, Mapping[str, Any]] = {}
    secrets: list[str] = []
    for name, account in config.accounts.items():
        provider = registry.providers[account.provider]
        if provider.sandbox is None:
            raise NotificationError(
                f"provider {provider.name!r} (account {name!r}) has no sandbox; "
                "run without --sandbox"
            )
        if provider.name not in per_provider:
            values = stack.enter_context(provider.sandbox())
            per_provider[provider.name] = dict(values)
            secrets.extend(
                str(v)
                for k, v in values.items()
                if k in provider.settings and provider.settings[k].secret and v
            )
        overrides[name] = per_provider[provider.name]
    return overrides, secrets


# -- the module-level notify() ---------------------------------------------------------------

_default_lock = threading.Lock()
_defaults: dict[Path, Notifier] = {}
_configured: Notifier | None = None


def configure(
    source: str | os.PathLike[str] | Mapping[str, Any] | Notifier | None = None, **kwargs: Any
) -> Notifier:
    """Set the Notifier the module-level :func:`notify` uses (a Notifier, or a config to build
    one from with :meth:`Notifier.from_config` and ``kwargs``); returns it."""
    global _configured
    notifier = source if isinstance(source, Notifier) else Notifier.from_config(source, **kwargs)
    with _default_lock:
        _configured = notifier
    return notifier


def get_notifier() -> Notifier:
    """The Notifier behind :func:`notify`: the one :func:`configure` set, else one built (once,
    thread-safely, then cached) from ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``.

    :raises ConfigNotFoundError: neither exists.
    """
    with _default_lock:
        if _configured is not None:
            return _configured
        path = find_config().resolve()
        notifier = _defaults.get(path)
        if notifier is None:
            notifier = Notifier.from_config(path)
            _defaults[path] = notifier
        return notifier


def reset() -> None:
    """Forget (and close) the default Notifiers; the next :func:`notify` reads the config again."""
    global _configured
    with _default_lock:
        notifiers = [*_defaults.values(), *([_configured] if _configured else [])]
        _defaults.clear()
        _configured = None
    for notifier in notifiers:
        notifier.close()


def notify(
    event: str,
    *,
    severity: str | None = None,
    data: DataArg = None,
    to: ToArg = None,
    channels: str | Iterable[str] | None = None,
    template: str | None = None,
) -> Report:
    """:meth:`Notifier.notify` on the default Notifier (see :func:`get_notifier`)."""
    return get_notifier().notify(
        event, severity=severity, data=data, to=to, channels=channels, template=template
    )


async def anotify(
    event: str,
    *,
    severity: str | None = None,
    data: DataArg = None,
    to: ToArg = None,
    channels: str | Iterable[str] | None = None,
    template: str | None = None,
) -> Report:
    """:meth:`Notifier.anotify` on the default Notifier (built in a worker thread if needed)."""
    import asyncio

    notifier = await asyncio.to_thread(get_notifier)
    return await notifier.anotify(
        event, severity=severity, data=data, to=to, channels=channels, template=template
    )
