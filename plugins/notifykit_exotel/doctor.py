"""The Exotel plugin's checks for ``notifykit doctor``: India's traps, found before go-live.

- ``exotel.dlt`` (offline): each SMS template an ``exotel-sms`` channel sends, against India's
  DLT rules (:mod:`notifykit.india`): a DLT registration in the config, no more stretches of
  varying text than the registered ``{#var#}``, none side by side, and every link it carries
  (the ack link included) flagged for whitelisting on the DLT portal.
- ``exotel.sms-ids`` (offline): each SMS channel's DLT entity id, and sender ids that fit the
  SMS type (6 letters for transactional and service SMS, 6 digits for promotional ones).
- ``exotel.account`` (online): through the account's :class:`~notifykit_exotel.ExotelClient`,
  GETs only (nothing is sent): credentials and KYC (one finding each, whatever else would have
  failed after them), every ``caller_id`` an ExoPhone with voice (``IncomingPhoneNumbers``),
  every number sender an ExoPhone with SMS, and every number the channels reach
  (``Numbers/<n>``): its type, its DND status, and for a number on DND/NDNC that a call
  reaches, the account's ``CustomerWhitelist``.

The plugin's ``register_checks`` imports this module, which costs little: the client, the
template tools and India's rules are imported when a check runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from notifykit.checks import CheckContext, Finding
from notifykit.errors import NotifykitError
from notifykit_exotel.plugin import CHECKS as CHECKS  # declared where the plugin registers them

if TYPE_CHECKING:
    from notifykit_exotel.client import ExotelClient
    from notifykit_exotel.errors import ExotelError
    from notifykit_exotel.models import ExoPhone, NumberInfo

__all__ = ["CHECKS", "check_account", "check_dlt", "check_sms_ids"]

SMS_TYPE = "exotel-sms"
VOICE_TYPES = ("exotel-call", "exotel-flow")
#: how soon a whitelisting's expiry is worth a warning
EXPIRY_WARNING = 30 * 24 * 3600

_ALPHA_HEADER = re.compile(r"[A-Za-z]{6}")
_NUMERIC_HEADER = re.compile(r"\d{6}")
_LEGACY_HEADER = re.compile(r"[A-Za-z]{2}-([A-Za-z0-9]{6})")
_PHONE = re.compile(r"\+?\d{8,15}")


# -- exotel.dlt ------------------------------------------------------------------------------


def check_dlt(ctx: CheckContext) -> Iterator[Finding]:
    """India's DLT rules for every SMS template an ``exotel-sms`` channel sends."""
    import jinja2

    from notifykit.india import DLT_LINK_RULE, dlt_template_issues, find_links, link_host
    from notifykit.text.outline import outline

    config = ctx.config
    engine = config.template_engine
    public_url = config.server.public_url
    ack_host = link_host(public_url) if public_url else None
    checked: set[str] = set()
    flagged: set[tuple[str, str, str]] = set()
    for use in ctx.uses():
        if use.channel_type != SMS_TYPE:
            continue
        name = f"{use.template}.sms"
        if not engine.exists(name):
            continue  # a problem of the config itself: config check reports it
        try:
            shape = outline(engine, name)
        except (NotifykitError, jinja2.TemplateError):
            continue  # likewise (a syntax error)
        settings = config.template_settings(use.template)
        pattern = settings.get("dlt_pattern")
        entry = f"templates.{use.template}"
        where = entry if use.template in config.templates else use.path
        label = f"{name} ({engine.locate(name)})"
        if use.template not in checked:
            checked.add(use.template)
            yield from _registration(ctx, use.template, name, use.channel, use.path, where)
            for issue in dlt_template_issues(shape, pattern, label):
                yield ctx.finding(issue.severity, where, issue.message)
        channel = config.channels[use.channel]
        whitelisted = tuple(channel.settings.get("dlt_whitelisted_domains") or ())
        texts = [*shape.texts(), *([pattern] if pattern else [])]
        links = [(link_host(link), link, where) for link in find_links(texts)]
        if ack_host and use.escalation and "ack_url" in shape.names:
            links.append((ack_host, f"the ack link, {public_url}/ack/...", "server.public_url"))
        for host, link, path in links:
            if host is None or (use.channel, use.template, host) in flagged:
                continue
            flagged.add((use.channel, use.template, host))
            carried = (
                f"{name}, which channel {use.channel} sends ({use.path}), carries a link to "
                f"{host} ({link})"
            )
            if _listed(host, whitelisted):
                yield ctx.finding(
                    "note",
                    path,
                    f"{carried}: listed in channels.{use.channel}.dlt_whitelisted_domains as "
                    "whitelisted on the DLT portal",
                )
                continue
            yield ctx.finding(
                "warning",
                path,
                f"{carried}: {DLT_LINK_RULE}; whitelist {host} on your DLT portal, then list it "
                f"in channels.{use.channel}.dlt_whitelisted_domains",
            )


def _registration(
    ctx: CheckContext, template: str, name: str, channel: str, use_path: str, where: str
) -> Iterator[Finding]:
    settings = ctx.config.template_settings(template)
    pattern, template_id = settings.get("dlt_pattern"), settings.get("dlt_template_id")
    sent = f"{name}, which channel {channel} sends ({use_path}),"
    if not pattern and not template_id:
        yield ctx.finding(
            "warning",
            where,
            f"{sent} has no DLT registration in the config: Indian operators reject an SMS "
            "whose text matches no content template registered on the DLT portal, or deliver "
            "it as promotional (never to DND numbers, nor at night); register its text, then "
            f"set templates.{template}.dlt_template_id and dlt_pattern (the registered text, "
            "which every SMS is then checked against before it is sent)",
        )
    elif not pattern:
        yield ctx.finding(
            "warning",
            where,
            f"{sent} has a dlt_template_id but no dlt_pattern, so nothing checks its text "
            "against the registered one before the operators do; copy the registered text "
            f"from the DLT portal into templates.{template}.dlt_pattern",
        )
    elif not template_id:
        yield ctx.finding(
            "note",
            where,
            f"{sent} has a dlt_pattern but no dlt_template_id: Exotel then looks the text up "
            "among the templates on your Exotel account; set dlt_template_id to name it",
        )


def _listed(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


# -- exotel.sms-ids ----------------------------------------------------------------------------


def check_sms_ids(ctx: CheckContext) -> Iterator[Finding]:
    """Each ``exotel-sms`` channel's DLT entity id and sender ids."""
    config = ctx.config
    for name, channel in config.channels.items():
        if channel.type != SMS_TYPE:
            continue
        path = f"channels.{name}"
        settings = channel.settings
        if not settings.get("dlt_entity_id"):
            yield ctx.finding(
                "warning",
                path,
                f"channel {name} sends no DLT entity id (DltEntityId): unless the account has "
                "it set on Exotel's dashboard, operators block its SMS (ENTITY_BLOCKED_BY_DLT, "
                f"23081); set {path}.dlt_entity_id to your principal entity id from the DLT "
                "portal",
            )
        types = _sms_types(ctx, name)
        for severity, sender in (settings.get("senders") or {}).items():
            yield from _sender(ctx, f"{path}.senders.{severity}.from", str(sender["from"]), types)


def _sms_types(ctx: CheckContext, channel: str) -> dict[str, str]:
    """The SMS types the channel sends, each with where it comes from."""
    config = ctx.config
    types: dict[str, str] = {}
    default = config.channels[channel].settings.get("sms_type")
    for use in ctx.uses():
        if use.channel != channel:
            continue
        chosen = config.template_settings(use.template).get("sms_type")
        if chosen:
            types.setdefault(chosen, f"templates.{use.template}.sms_type")
        elif default:
            types.setdefault(default, f"channels.{channel}.sms_type")
    if default and not types:
        types[default] = f"channels.{channel}.sms_type"
    return types


def _sender(
    ctx: CheckContext, path: str, sender: str, types: Mapping[str, str]
) -> Iterator[Finding]:
    if _PHONE.fullmatch(sender):
        return  # an ExoPhone: doctor --online checks it is one, with SMS
    legacy = _LEGACY_HEADER.fullmatch(sender)
    header = legacy.group(1) if legacy else sender
    promotional = types.get("promotional")
    service = [t for t in ("transactional", "transactional_opt_in") if t in types]
    if _ALPHA_HEADER.fullmatch(header):
        if promotional:
            yield ctx.finding(
                "error",
                path,
                f"sender {sender} is an alphabetic header, but this channel sends promotional "
                f"SMS ({promotional}), which go out under a 6-digit numeric header: Exotel "
                "refuses a From that does not fit the SmsType; use your numeric header for "
                "promotional SMS, or make them transactional",
            )
    elif _NUMERIC_HEADER.fullmatch(header):
        if service:
            yield ctx.finding(
                "error",
                path,
                f"sender {sender} is a numeric (promotional) header, but this channel sends "
                f"{service[0]} SMS ({types[service[0]]}), which go out under a 6-letter header "
                "registered on the DLT portal: Exotel refuses a From that does not fit the "
                "SmsType; use your alphabetic header",
            )
    else:
        yield ctx.finding(
            "warning",
            path,
            f"sender {sender} is not a DLT header: headers are 6 letters (transactional and "
            "service SMS) or 6 digits (promotional SMS), registered on the DLT portal and "
            "linked to the templates; or an ExoPhone of the account",
        )


# -- exotel.account (online) -------------------------------------------------------------------


@dataclass
class _Reached:
    """A number the account's channels reach: how, and where the config names it."""

    number: str
    path: str
    kinds: set[str] = field(default_factory=set)
    promotional: str | None = None


def check_account(ctx: CheckContext) -> Iterator[Finding]:
    """Ask Exotel, for every account an Exotel channel uses: credentials, KYC, ExoPhones, and the
    numbers the channels reach."""
    config = ctx.config
    accounts = sorted(
        {
            str(channel.settings["account"])
            for channel in config.channels.values()
            if channel.type == SMS_TYPE or channel.type in VOICE_TYPES
        }
    )
    numbers: dict[str, NumberInfo] = {}
    for account in accounts:
        yield from _account(ctx, account, numbers)


def _account(ctx: CheckContext, account: str, numbers: dict[str, NumberInfo]) -> Iterator[Finding]:
    from notifykit_exotel.errors import ExotelError, NotFoundError

    path = f"accounts.{account}"
    try:
        client: ExotelClient = ctx.client(account)
    except NotifykitError as err:
        yield ctx.finding("error", path, f"account {account} cannot be used: {err}")
        return
    phones: list[ExoPhone] | None
    try:
        phones = client.list_exophones()
    except NotFoundError as err:
        phones = None
        yield ctx.finding(
            "warning",
            path,
            f"Exotel did not list account {account}'s ExoPhones ({_said(err)}), so its caller "
            "ids and number senders were not checked against them",
        )
    except ExotelError as err:
        yield _refused(ctx, account, err, "listing its ExoPhones")
        return
    if phones is not None:
        yield from _caller_ids(ctx, account, phones)
    for reached in _reached(ctx, account).values():
        try:
            yield from _number(ctx, account, client, reached, numbers)
        except _Stop as stop:
            yield stop.finding
            return


class _Stop(Exception):
    """The account itself was refused (credentials, KYC...): its other checks would only repeat
    the same refusal."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _said(err: ExotelError) -> str:
    parts = [f"HTTP {err.status}"] if err.status is not None else []
    if err.code is not None:
        parts.append(f"code {err.code}")
    head = ", ".join(parts)
    return f"{head}: {err.message}" if head else err.message


def _refused(ctx: CheckContext, account: str, err: ExotelError, doing: str) -> Finding:
    """One finding for an account-level refusal, with its fix."""
    from notifykit_exotel.errors import (
        AuthenticationError,
        ExotelConnectionError,
        KycRequiredError,
        PaymentRequiredError,
        PermissionDeniedError,
    )

    path = f"accounts.{account}"
    settings = ctx.config.accounts[account].settings
    if isinstance(err, AuthenticationError):
        where = settings.get("base_url") or f"region {settings.get('region') or 'singapore'}"
        return ctx.finding(
            "error",
            path,
            f"Exotel refused account {account}'s credentials ({_said(err)}) while {doing}: "
            f"nothing it sends can go out; check sid, api_key and token against the Exotel "
            f"dashboard (Settings > API settings), and the region ({where}): mumbai for an "
            "account made in the Mumbai cluster (my.mum1.exotel.com, api.in.exotel.com), "
            "singapore otherwise",
        )
    if isinstance(err, KycRequiredError):
        return ctx.finding(
            "error",
            path,
            f"Exotel says account {account} is not KYC compliant ({_said(err)}): TRAI requires "
            "KYC before outbound calls and SMS, so nothing it sends will go out; complete KYC "
            "on the Exotel dashboard (it takes 1 to 3 business days)",
        )
    if isinstance(err, PaymentRequiredError):
        return ctx.finding(
            "error",
            path,
            f"Exotel refused account {account} for its plan or usage limits ({_said(err)}) "
            f"while {doing}: top up or change the plan with Exotel",
        )
    if isinstance(err, PermissionDeniedError):
        return ctx.finding(
            "error",
            path,
            f"Exotel refused account {account} ({_said(err)}) while {doing}: the account "
            "cannot act (inactive, expired, no balance?); see the Exotel dashboard",
        )
    if isinstance(err, ExotelConnectionError):
        return ctx.finding(
            "error",
            path,
            f"could not reach Exotel for account {account} while {doing} "
            f"({type(err).__name__}: {err.message}), so it was not checked; check the network "
            "and proxy settings, or the account's base_url, and run doctor --online again",
        )
    return ctx.finding(
        "error",
        path,
        f"Exotel answered {_said(err)} while {doing} for account {account}, so it was not "
        "checked; run doctor --online again",
    )


def _caller_ids(ctx: CheckContext, account: str, phones: list[ExoPhone]) -> Iterator[Finding]:
    from notifykit_exotel.wire import same_number

    def find(number: str) -> ExoPhone | None:
        return next((p for p in phones if same_number(p.phone_number, number)), None)

    shown = [p.friendly_name or p.phone_number or "?" for p in phones]
    listed = ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
    listed = listed or "none"
    for name, channel in ctx.config.channels.items():
        if channel.settings.get("account") != account:
            continue
        if channel.type in VOICE_TYPES:
            table = channel.settings.get("caller_id") or {}
            for severity, number in table.items():
                path = f"channels.{name}.caller_id"
                path += "" if list(table) == ["default"] else f".{severity}"
                phone = find(str(number))
                if phone is None:
                    yield ctx.finding(
                        "error",
                        path,
                        f"{number} is not an ExoPhone of account {account} (its ExoPhones: "
                        f'{listed}): Exotel refuses the call (400 "CallerId is not a valid '
                        'ExoPhone"); use one of them, or add this number to the account on the '
                        "Exotel dashboard (ExoPhones)",
                    )
                elif phone.voice is False:
                    yield ctx.finding(
                        "error",
                        path,
                        f"{number} is an ExoPhone of account {account} without voice "
                        "capability: Exotel cannot place calls from it; use an ExoPhone with "
                        "voice",
                    )
        elif channel.type == SMS_TYPE:
            for severity, sender in (channel.settings.get("senders") or {}).items():
                number = str(sender["from"])
                if not _PHONE.fullmatch(number):
                    continue
                path = f"channels.{name}.senders.{severity}.from"
                phone = find(number)
                if phone is None:
                    yield ctx.finding(
                        "error",
                        path,
                        f"{number} is not an ExoPhone of account {account} (its ExoPhones: "
                        f"{listed}): an SMS From must be an ExoPhone or a DLT header linked to "
                        "one",
                    )
                elif phone.sms is False:
                    yield ctx.finding(
                        "error",
                        path,
                        f"{number} is an ExoPhone of account {account} without SMS capability: "
                        "no SMS can go out from it; use an ExoPhone with SMS, or your DLT header",
                    )


def _reached(ctx: CheckContext, account: str) -> dict[str, _Reached]:
    """Every Indian number the account's channels reach, with how (sms, call) and where the
    config names it."""
    config = ctx.config
    kinds = {name: ct.kind for name, ct in ctx.channel_types.items()}
    reached: dict[str, _Reached] = {}
    names = {person.phone: f"recipients.{name}.phone" for name, person in config.recipients.items()}

    def add(number: str | None, path: str, kind: str, promotional: str | None = None) -> None:
        if not number or not number.startswith("+91"):
            return  # DND, NDNC and the whitelist are India's
        entry = reached.setdefault(number, _Reached(number, names.get(number, path)))
        entry.kinds.add(kind)
        entry.promotional = entry.promotional or promotional

    for use in ctx.uses():
        channel = config.channels[use.channel]
        if channel.settings.get("account") != account:
            continue
        kind = kinds.get(use.channel_type, "text")
        promotional = None
        if use.channel_type == SMS_TYPE:
            chosen = config.template_settings(use.template).get("sms_type")
            chosen = chosen or channel.settings.get("sms_type")
            if chosen == "promotional":
                promotional = f"{use.path}, template {use.template}"
        for person in use.recipients:
            add(person.phone, use.path, kind, promotional)
    for name, channel in config.channels.items():
        if channel.type == "exotel-call" and channel.settings.get("account") == account:
            table = channel.settings.get("connect_to") or {}
            for severity, number in table.items():
                path = f"channels.{name}.connect_to"
                path += "" if list(table) == ["default"] else f".{severity}"
                add(str(number), path, "call")
    return reached


def _number(
    ctx: CheckContext,
    account: str,
    client: ExotelClient,
    reached: _Reached,
    numbers: dict[str, NumberInfo],
) -> Iterator[Finding]:
    from notifykit_exotel.errors import ExotelError, ValidationError

    number, path = reached.number, reached.path
    info = numbers.get(number)
    if info is None:
        try:
            info = numbers[number] = client.number_info(number)
        except ValidationError as err:
            yield ctx.finding(
                "error",
                path,
                f"Exotel does not take {number} for a phone number ({_said(err)}): correct it",
            )
            return
        except ExotelError as err:
            yield from _lookup_failed(ctx, account, err, f"looking up {number}", path)
            return
    kind = (info.type or "").strip().lower()
    if "sms" in reached.kinds and kind and kind not in ("mobile", "cellular"):
        yield ctx.finding(
            "error",
            path,
            f"{number} is a {info.type} number (Exotel's Numbers/<n>), which cannot receive "
            "SMS, yet an SMS channel reaches it: give the person's mobile number, or reach it "
            "by call only",
        )
    if not info.dnd:
        return
    if reached.promotional:
        yield ctx.finding(
            "error",
            path,
            f"{number} is on India's DND registry, and a promotional SMS reaches it "
            f"({reached.promotional}): operators do not deliver promotional SMS to DND numbers "
            "(failed_dnd); send it as transactional or service SMS (sms_type) under your "
            "alphabetic header",
        )
    if not reached.kinds & {"call", "flow"}:
        return
    try:
        status = client.whitelist_status(number)
    except ExotelError as err:
        yield from _lookup_failed(ctx, account, err, f"asking the whitelist about {number}", path)
        return
    if status.whitelisted:
        if status.expiry is not None and 0 <= status.expiry < EXPIRY_WARNING:
            days = status.expiry // 86400
            yield ctx.finding(
                "warning",
                path,
                f"{number} is on DND/NDNC and whitelisted on account {account} for only "
                f"{days} more day{'s' if days != 1 else ''}: whitelist it again before then "
                "(or have the person call one of your ExoPhones)",
            )
        return
    if status.blacklisted:
        yield ctx.finding(
            "error",
            path,
            f"{number} is on DND/NDNC and has opted out of account {account}'s calls "
            "(CustomerWhitelist: Blacklist): Exotel will not call it; ask the person to opt in "
            "again (a missed call to your ExoPhone), or page them by SMS",
        )
        return
    yield ctx.finding(
        "error",
        path,
        f"{number} is on India's DND/NDNC registry and not on account {account}'s customer "
        f"whitelist (CustomerWhitelist: {status.status or 'none'}), so Exotel can refuse calls "
        "to it (403, TRAI NDNC regulations); whitelist it (POST CustomerWhitelist with the "
        "number and your ExoPhone: Exotel sends the person an opt-in SMS), or have the person "
        "call one of your ExoPhones, which whitelists them for 6 months",
    )


def _lookup_failed(
    ctx: CheckContext, account: str, err: ExotelError, doing: str, path: str
) -> Iterator[Finding]:
    """A lookup about one number failed: the account's own refusal stops the account (one
    finding); anything else is about that number."""
    from notifykit_exotel.errors import (
        AuthenticationError,
        ExotelConnectionError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitExceededError,
        ServerError,
    )

    account_wide = (
        AuthenticationError,
        PermissionDeniedError,
        PaymentRequiredError,
        ExotelConnectionError,
        RateLimitExceededError,
        ServerError,
    )
    if isinstance(err, account_wide):
        raise _Stop(_refused(ctx, account, err, doing))
    yield ctx.finding(
        "warning",
        path,
        f"Exotel answered {_said(err)} while {doing}, so it was not checked",
    )
