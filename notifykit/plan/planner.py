"""The planner: turns a notification into a :class:`Plan` of :class:`DeliveryJob` objects.

Everything that can be the caller's mistake is found here and raised, before anything is stored or
sent: an unknown severity, channel or recipient, an invalid number, a template that is missing,
fails to render, is too long or does not match its DLT pattern. Each channel's
:meth:`~notifykit.channels.Channel.prepare` runs once per notification and chooses the provider
options; the jobs carry the rendered text and those options, so a worker in another process (or
after a restart) sends exactly what was planned.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import SEVERITIES, Channel, ChannelType, Message, Recipient
from notifykit.config.schema import did_you_mean, parse_phone, phone_hint
from notifykit.errors import (
    NobodyOnCallError,
    NotificationError,
    NotifykitError,
    PluginError,
    RecipientError,
)
from notifykit.model import STANDBY, Notification, assemble

if TYPE_CHECKING:
    from notifykit.config.loader import Config
    from notifykit.oncall import OnCall, Schedule
    from notifykit.oncall.overrides import StoredOverride

__all__ = [
    "SCHEDULE_PREFIX",
    "DeliveryJob",
    "Plan",
    "Planner",
    "new_id",
    "new_ids",
    "template_context",
]

logger = logging.getLogger("notifykit.oncall")

#: a target naming an on-call schedule: ``schedule:primary`` is whoever is on call when the
#: message is planned (an escalation step: when it fires)
SCHEDULE_PREFIX = "schedule:"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


#: raw numbers remembered, valid or not: a 10,000-number broadcast fits, at about 2 MiB
PHONE_CACHE = 16_384


@functools.lru_cache(maxsize=PHONE_CACHE)
def _phone_recipient(number: str) -> Recipient | None:
    """The :class:`Recipient` of a raw number (``None``: not a valid number), remembered:
    libphonenumber costs more per number than the rest of planning, and the numbers of an
    on-call list or a broadcast are sent to again and again. The answer depends only on the
    text (the region is always India's), so a cached one is exact; a Recipient is frozen, so
    the plans that send to the number share it."""
    phone = parse_phone(number)
    return None if phone is None else Recipient(name=None, phone=phone)


#: every pair of Crockford digits (10 bits), so a number takes 13 lookups instead of 26 divmods
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
#: a random byte to a Crockford digit by its low 5 bits: 256 = 8 x 32, so a uniform byte gives
#: a uniform digit (5 random bits)
_RANDOM_DIGIT = bytes(ord(_CROCKFORD[b & 31]) for b in range(256))


def new_id() -> str:
    """A 26-character id that sorts by creation time (48 bits of milliseconds, 80 random bits,
    Crockford base 32, as a ULID), so ledger ids list in the order they were made."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` ids as :func:`new_id` makes them, made at once, in ascending order: the same
    10-digit time part (this millisecond) and 16 random digits each (80 random bits: one
    random byte per digit, its low 5 bits), from one read of the system's random source and
    one C-level translation. A broadcast makes one per delivery: 0.25 us each against 2 us one
    by one.

    Sorted, so that a plan's ids also sort in the order of its jobs (as ids made one by one,
    millisecond by millisecond, nearly did): a group of deliveries is then a run of
    neighbouring entries in the ledger's index on ids, not 500 entries scattered over all the
    broadcast's pages (which made recording a 10,000-number broadcast 20% slower)."""
    if count <= 0:
        return []
    when = crockford(int(time.time() * 1000) << 80)[:10]
    digits = os.urandom(16 * count).translate(_RANDOM_DIGIT).decode("ascii")
    ids = [when + digits[i : i + 16] for i in range(0, 16 * count, 16)]
    ids.sort()
    return ids


def crockford(value: int) -> str:
    """A 128-bit number as 26 Crockford base-32 digits (130 bits, the top two 0)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])


@dataclass(frozen=True)
class DeliveryJob:
    """One planned delivery: what to send to whom through which channel, frozen and serialisable.

    ``batch`` groups the jobs of one notification and channel that share a text and options, so a
    worker can hand them to the channel together (a bulk endpoint); ``callback_token`` is the
    unguessable token of that batch's status callback URL. ``skip_reason`` is set when the job
    cannot be delivered at all (the recipient has no address for the channel).
    """

    id: str
    notification_id: str
    seq: int
    channel: str
    channel_type: str
    recipient: str
    recipient_name: str | None
    address: str | None
    address_kind: str
    text: str | None
    template: str | None
    options: Mapping[str, Any] = field(hash=False)
    info: Mapping[str, Any] = field(hash=False)
    batch: str
    callback_token: str
    due: float
    skip_reason: str | None = None
    #: attempts made so far, and when it was first due (the retry deadline counts from there)
    attempts: int = 0
    first_due: float | None = None
    #: the id of the job this one is the fallback of (docs/failover.md): planned with it,
    #: stored as a standby, sent only if that one certainly fails on the provider's side
    fallback_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "seq": self.seq,
            "channel": self.channel,
            "channel_type": self.channel_type,
            "recipient": self.recipient,
            "recipient_name": self.recipient_name,
            "address": self.address,
            "address_kind": self.address_kind,
            "text": self.text,
            "template": self.template,
            "options": dict(self.options),
            "info": dict(self.info),
            "batch": self.batch,
            "callback_token": self.callback_token,
            "due": self.due,
            "skip_reason": self.skip_reason,
            "attempts": self.attempts,
            "first_due": self.first_due,
            "fallback_of": self.fallback_of,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryJob:
        # Keys a job serialised by an older notifykit lacks keep their defaults.
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def recipient_object(self) -> Recipient:
        """The :class:`Recipient` a channel's ``send`` gets for this job (``delivery_id``: this
        job's id)."""
        if self.address_kind == "phone":
            # one per job sent: every field given, without the frozen __init__ (model.assemble)
            return assemble(
                Recipient,
                {
                    "name": self.recipient_name,
                    "phone": self.address,
                    "display_name": None,
                    "addresses": {},
                    "delivery_id": self.id,
                },
            )
        addresses = {self.address_kind: self.address} if self.address else {}
        return Recipient(
            name=self.recipient_name, phone=None, addresses=addresses, delivery_id=self.id
        )


@dataclass(frozen=True)
class Plan:
    """A planned notification: the notification, its jobs, and the rendered text per channel.

    ``receiver`` and ``step`` say what routing planned it for (a ``route:`` receiver, an
    escalation step ``"<round>.<index>"``); the ledger keeps them for ``history``."""

    notification: Notification
    jobs: tuple[DeliveryJob, ...]
    messages: Mapping[str, str | None] = field(hash=False)
    receiver: str | None = None
    step: str | None = None


def template_context(
    event: str,
    severity: str,
    data: Mapping[str, Any],
    routing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables a template sees: every data key, then the ``routing`` variables (``labels``,
    ``alerts``, ``status``... of a routed notification), then ``data`` (the whole mapping, exactly
    as the caller gave it), ``event``, ``severity`` and ``now`` (the current time, an aware UTC
    datetime). Each wins over the ones before it of the same name: ``data.status`` is always the
    caller's, ``status`` the alert's."""
    return {
        **data,
        **(routing or {}),
        "data": data,
        "event": event,
        "severity": severity,
        "now": datetime.now(timezone.utc),
    }


class Planner:
    """Plans notifications for one validated config and its built channels."""

    def __init__(
        self,
        config: Config,
        channels: Mapping[str, Channel],
        channel_types: Mapping[str, ChannelType],
        scrub: Callable[[str], str],
        clock: Callable[[], float] = time.time,
        overrides: Callable[[str], Sequence[StoredOverride]] | None = None,
    ) -> None:
        from notifykit.config.loader import looks_like_phone as is_phone

        self.config = config
        #: the on-call overrides made at run time, of a schedule (the ledger's)
        self._overrides = overrides
        self.channels = channels
        self.channel_types = channel_types
        self._scrub = scrub
        self.clock = clock
        self._is_phone = is_phone
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
            if is_phone(target) and target not in self._numbers:
                self._numbers[target] = self.raw_recipient(target)
        # A group member is a person (a Recipient) or a schedule (its target text, resolved
        # when the group is).
        self._groups: dict[str, tuple[Recipient | str, ...]] = {
            name: tuple(
                m if m.startswith(SCHEDULE_PREFIX) else config.recipients.get(m) or self._numbers[m]
                for m in members
            )
            for name, members in config.groups.items()
        }

    # -- checks ---------------------------------------------------------------------------------

    def check_channels(self, names: Sequence[str]) -> None:
        for name in names:
            if name not in self.channels:
                hint = did_you_mean(name, self.channels)
                known = ", ".join(self.channels) or "none"
                raise NotificationError(
                    f"no channel named {name!r}{hint}; configured channels: {known}"
                )

    @staticmethod
    def raw_recipient(number: str) -> Recipient:
        recipient = _phone_recipient(number)
        if recipient is None:
            raise RecipientError(f"{number!r} is not a valid phone number: {phone_hint()}")
        return recipient

    # -- on-call schedules -----------------------------------------------------------------------

    def schedule(self, name: str) -> Schedule:
        """The ``schedules:`` entry ``name``, with the overrides made at run time after its
        configured ones (a later override wins); :class:`RecipientError` when there is none.
        When the overrides cannot be read (the ledger is down), the configured schedule is
        used, and that is logged loudly: a page still goes out."""
        found = self.config.schedules.get(name)
        if found is None:
            known = ", ".join(self.config.schedules) or "none"
            raise RecipientError(
                f"no schedule named {name!r}{did_you_mean(name, self.config.schedules)}; "
                f"configured schedules: {known}"
            )
        if self._overrides is None:
            return found
        try:
            made = self._overrides(name)
        except Exception as err:
            logger.error(
                "schedule %s: the on-call overrides made at run time cannot be read (%s: %s); "
                "who is on call is decided without them",
                name,
                type(err).__name__,
                self._scrub(str(err)),
            )
            return found
        # a cancelled one that never started has no time left: it overrides nothing
        extra = tuple(o.local(found.zone) for o in made if o.ends_at > o.starts_at)
        if not extra:
            return found
        return dataclasses.replace(found, overrides=(*found.overrides, *extra))

    def on_call(self, name: str, at: float | None = None) -> OnCall:
        """Who schedule ``name`` has on call at ``at`` (epoch seconds; default: the clock's
        now)."""
        when = self.clock() if at is None else at
        return self.schedule(name).who_is_on_call(datetime.fromtimestamp(when, timezone.utc))

    def resolve_recipients(
        self, targets: Iterable[str], at: float | None = None
    ) -> list[Recipient]:
        """Recipient names, group names, ``schedule:NAME`` and phone numbers as
        :class:`Recipient` objects, each person once, in order. A schedule is whoever it has on
        call at ``at`` (default: now), or no one. Raises :class:`RecipientError` for anything
        unknown or invalid, and :class:`NobodyOnCallError` when schedules were the only targets
        and none has anyone on call."""
        result: list[Recipient] = []
        seen: set[str] = set()
        nobody: list[str] = []

        def add(recipient: Recipient) -> None:
            key = recipient.phone or f"name:{recipient.name}"
            if key not in seen:
                seen.add(key)
                result.append(recipient)

        def on_call(target: str) -> None:
            who = self.on_call(target[len(SCHEDULE_PREFIX) :], at).who
            if who is None:
                nobody.append(target)
            elif who in self.config.recipients:
                add(self.config.recipients[who])
            else:  # the config check makes every member a recipient: a backstop
                raise RecipientError(f"{target} has {who!r} on call, who is not a recipient")

        numbers = self._numbers
        for target in targets:
            if not isinstance(target, str):
                raise RecipientError(f"recipients are names or phone numbers, got {target!r}")
            if self._is_phone(target):
                # add() spelt out: a broadcast passes here once per number
                recipient = numbers.get(target) or self.raw_recipient(target)
                if recipient.phone not in seen:
                    seen.add(recipient.phone)  # type: ignore[arg-type]
                    result.append(recipient)
            elif target in self.config.recipients:
                add(self.config.recipients[target])
            elif target in self._groups:
                for member in self._groups[target]:
                    if isinstance(member, str):
                        on_call(member)
                    else:
                        add(member)
            elif target.startswith(SCHEDULE_PREFIX):
                on_call(target)
            else:
                names = [*self.config.recipients, *self.config.groups]
                raise RecipientError(
                    f"no recipient or group named {target!r}{did_you_mean(target, names)}"
                )
        if nobody and not result:
            listed = tuple(dict.fromkeys(nobody))
            raise NobodyOnCallError(f"nobody on call ({', '.join(listed)})", listed)
        return result

    # -- planning -------------------------------------------------------------------------------

    def plan(
        self,
        event: str,
        severity: str,
        data: Mapping[str, Any] | None,
        targets: Sequence[str],
        channel_names: Sequence[str],
        template: str | None,
        body: str | None,
        *,
        key: str | None = None,
        dry_run: bool = False,
        due: float | None = None,
        routing: Mapping[str, Any] | None = None,
        fallback: Sequence[str] | None = None,
    ) -> Plan:
        """Check, render and prepare a notification; raise before anything else happens.

        ``data`` is what the caller passed: it is stored with the notification and handed to the
        channels as it is. ``routing`` holds the variables routing adds for the templates
        (``labels``, ``alerts``, ``status``, ``ack_url``...: see :func:`template_context`); they
        are rendered with, never merged into ``data``. ``fallback``: the alternatives a receiver
        or an escalation step names, instead of each channel's own (docs/failover.md).
        """
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
        self.check_channels(channel_names)
        created = self.clock()
        recipients = tuple(self.resolve_recipients(targets, created))
        if not recipients:
            raise RecipientError(
                f"no recipients for event {event!r}: pass to=..., or set them in "
                f"events.{event}.to or defaults.to"
            )
        data = dict(data or {})
        # The channels the message may fall over to are rendered and checked now too: a
        # template the fallback cannot send is the caller's mistake, found before anything
        # is stored, not at 3 a.m. when the provider is down.
        chains = {
            name: self.config.fallbacks(name, fallback) for name in dict.fromkeys(channel_names)
        }
        every = list(dict.fromkeys([*channel_names, *(f for c in chains.values() for f in c)]))
        prepared = self._prepare(event, severity, data, every, template, body, routing)
        messages = {name: prepared[name] for name in dict.fromkeys(channel_names)}
        notification = Notification(
            event=event,
            severity=severity,
            data=data,
            template=template if body is None else None,
            channels=tuple(channel_names),
            recipients=tuple(r.label for r in recipients),
            dry_run=dry_run,
            id=new_id(),
            key=key,
            created=created,
        )
        jobs: list[DeliveryJob] = []
        when = created if due is None else due
        for name, message in messages.items():
            channel_type = self.channel_types[name]
            batch = f"{notification.id}/{name}"
            token = secrets.token_urlsafe(16)  # 128 random bits
            kind = channel_type.address
            # The fields every job of this channel shares; each job is assembled from them
            # (every field given, as model.assemble does) without the frozen __init__'s
            # per-field cost, which was a third of planning a 10,000-number broadcast.
            shared = {
                "notification_id": notification.id,
                "channel": name,
                "channel_type": channel_type.name,
                "address_kind": kind,
                "text": message.text,
                "template": message.template,
                "options": message.options,
                "info": message.info,
                "batch": batch,
                "callback_token": token,
                "due": when,
                "attempts": 0,
                "first_due": None,
                "fallback_of": None,
            }
            new = object.__new__
            for recipient, job_id in zip(recipients, new_ids(len(recipients)), strict=True):
                address = recipient.phone if kind == "phone" else recipient.address(kind)
                job = new(DeliveryJob)
                fields = job.__dict__
                fields.update(shared)
                fields["id"] = job_id
                fields["seq"] = len(jobs)
                fields["recipient"] = recipient.label
                fields["recipient_name"] = recipient.name
                fields["address"] = address
                fields["skip_reason"] = (
                    None if address is not None else f"no {kind} address for {recipient.label}"
                )
                jobs.append(job)
        standby = self._standby(notification, jobs, chains, prepared, recipients, when)
        texts = {n: m.text for n, m in messages.items()}
        for job in standby:
            texts.setdefault(job.channel, prepared[job.channel].text)
        return Plan(notification, (*jobs, *standby), texts)

    def _standby(
        self,
        notification: Notification,
        jobs: Sequence[DeliveryJob],
        chains: Mapping[str, tuple[str, ...]],
        prepared: Mapping[str, Message],
        recipients: Sequence[Recipient],
        when: float,
    ) -> list[DeliveryJob]:
        """The fallback jobs of ``jobs`` (docs/failover.md): for each job that can be sent,
        one per channel of its channel's fallback chain that has an address for the person,
        each the fallback of the one before it, stored as a standby. Not through a channel
        that already sends this notification to the same address (a call falling back to the
        SMS the person gets anyway would send it twice: that channel's own chain covers it),
        and once per person and channel."""
        if not any(chains.values()):
            return []
        by_label = {r.label: r for r in recipients}
        planned = {(j.channel, j.address) for j in jobs if j.address is not None}
        standing: set[tuple[str, str, str]] = set()
        out: list[DeliveryJob] = []
        batches: dict[str, tuple[str, str]] = {}
        for job in jobs:
            chain = chains.get(job.channel, ())
            if not chain or job.skip_reason is not None:
                continue
            recipient = by_label[job.recipient]
            previous = job
            for name in chain:
                channel_type = self.channel_types[name]
                address = recipient.address(channel_type.address)
                if address is None:
                    continue
                if (name, address) in planned:
                    break  # the person gets it through that channel anyway, with its own chain
                if (name, address, job.recipient) in standing:
                    continue  # another channel's chain stands by with it already
                standing.add((name, address, job.recipient))
                batch, token = batches.get(name) or batches.setdefault(
                    name, (f"{notification.id}/{name}/fallback", secrets.token_urlsafe(16))
                )
                message = prepared[name]
                standby = DeliveryJob(
                    id=new_id(),
                    notification_id=notification.id,
                    seq=len(jobs) + len(out),
                    channel=name,
                    channel_type=channel_type.name,
                    recipient=job.recipient,
                    recipient_name=job.recipient_name,
                    address=address,
                    address_kind=channel_type.address,
                    text=message.text,
                    template=message.template,
                    options=message.options,
                    info=message.info,
                    batch=batch,
                    callback_token=token,
                    due=when,
                    skip_reason=(
                        f"{STANDBY}sent only if {previous.channel} to {job.recipient} "
                        "certainly fails on the provider's side"
                    ),
                    fallback_of=previous.id,
                )
                out.append(standby)
                previous = standby
        return out

    def _prepare(
        self,
        event: str,
        severity: str,
        data: dict[str, Any],
        channel_names: Sequence[str],
        template: str | None,
        body: str | None,
        routing: Mapping[str, Any] | None = None,
    ) -> dict[str, Message]:
        engine = self.config.template_engine
        context = template_context(event, severity, data, routing)
        rendered: dict[str, str] = {}
        prepared: dict[str, Message] = {}
        settings = self.config.template_settings(template) if template and body is None else None
        for name in channel_names:
            if name in prepared:
                continue
            channel_type = self.channel_types[name]
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
                routing=routing or {},
            )
            channel = self.channels[name]
            try:
                message = channel.prepare(message)
                json.dumps(dict(message.options))
                json.dumps(dict(message.info))
            except NotifykitError:
                raise
            except Exception as err:
                raise PluginError(
                    f"channel {name!r} ({channel_type.name}) failed to prepare the message: "
                    f"{type(err).__name__}: {self._scrub(str(err))}"
                ) from err
            prepared[name] = message
        return prepared
