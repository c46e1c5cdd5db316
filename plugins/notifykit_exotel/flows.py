"""The URLs an Exotel flow calls, served by the status server (``notifykit serve``) through the
``register_routes`` hook: a paging call speaks the alert and takes a key; a missed call to an
ExoPhone acknowledges (reference ``exotel-api.md`` §3 and §13; docs/exotel-flows.md).

Exotel v1 does not sign the requests its applets make, so each URL carries a secret:

- ``GET|HEAD /exotel/voice?CallSid=…&From=…&To=…&CustomField=<token>`` (Greeting, "read text
  from URL"): ``200 text/plain``, the call's rendered ``<template>.voice`` text followed by the
  key instructions of its escalation policy; ``404`` for an unknown token.
- ``GET /exotel/digits?CallSid=…&digits="1"&CustomField=<token>`` (Passthru after a Gather):
  ``200`` when the key was recognised and done (acknowledge, escalate, resolve, snooze when the
  policy has a snooze key), ``302`` when
  not, so the flow branches. A replayed request (the same CallSid and key) does nothing again
  and answers the same.
- ``GET /exotel/<flow-secret>/missed-call?CallSid=…&From=<caller>&To=<exophone>``: acknowledges
  every open escalation paging the caller; ``200`` when something was, ``302`` when nothing.
- ``GET /exotel/<flow-secret>/oncall?CallSid=…&CallFrom=…&CallTo=…[&schedule=NAME]`` (Connect,
  "dial whom" URL): ``200 text/plain``, the number of whoever the schedule has on call now (the
  schedule named, else the account's ``oncall_schedule``, else the only one); ``404`` when
  nobody is.

The token: with ``server.public_url`` set, every batch has a status-callback token (128 random
bits, ``/status/<token>``); an ``exotel-flow`` call carries ``<that token>.<8 characters naming
the number called>`` in ``CustomField`` instead of its text (Exotel already holds the batch's
token, in the call's ``StatusCallback``). The server finds the call's delivery by it in the
ledger: its text, who it went to, and the escalation step it was sent for.

``<flow-secret>`` is the account's ``flow_secret`` (``${ENV_VAR}`` only), compared in constant
time; the server's logs cut it out of every path (:func:`notifykit.server.http.hide_tokens`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notifykit.server.http import HTTPProblem, Request, Response

if TYPE_CHECKING:
    from notifykit.ledger.state import EscalationRecord, StepRecord
    from notifykit.notifier import Notifier
    from notifykit.routing.escalation import Keys

__all__ = [
    "FLOW_PATHS",
    "FlowCall",
    "FlowRoutes",
    "call_token",
    "e164",
    "flow_urls",
    "parse_token",
    "register",
]

logger = logging.getLogger("notifykit.exotel.flows")

#: where each URL is served, under ``server.public_url``
FLOW_PATHS = {
    "voice": "/exotel/voice",
    "digits": "/exotel/digits",
    "missed_call": "/exotel/{secret}/missed-call",
    "oncall": "/exotel/{secret}/oncall",
}
_SECRET = r"[A-Za-z0-9_-]{16,128}"
_BATCH = re.compile(r"/status/(?P<token>[A-Za-z0-9_-]{16,128})$")
_TOKEN = re.compile(r"(?P<batch>[A-Za-z0-9_-]{16,128})\.(?P<who>[A-Za-z0-9_-]{8})")
#: every answer: a call's text must not be kept by a proxy
_NO_STORE = (("Cache-Control", "no-store"),)
#: the SMS a missed-call acknowledgement is confirmed with
CONFIRMATION = "Acknowledged by your missed call: {alerts}. Nobody else will be paged for it."


def _who(batch: str, address: str) -> str:
    digest = hashlib.sha256(f"{batch}/{address}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def call_token(status_callback: str | None, address: str | None) -> str | None:
    """The ``CustomField`` token of a call to ``address`` in the batch whose status callback URL
    is ``status_callback`` (``None`` without one: no ``server.public_url``, so no flow URL can
    be served and the call carries its text, as before)."""
    if not status_callback or not address:
        return None
    match = _BATCH.search(status_callback)
    if match is None:
        return None
    batch = match.group("token")
    return f"{batch}.{_who(batch, address)}"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(batch token, number part)`` of a well-formed call token, else ``None``."""
    match = _TOKEN.fullmatch(token.strip())
    return None if match is None else (match.group("batch"), match.group("who"))


def e164(number: str) -> str | None:
    """A number as Exotel sends it (``09876543210``, ``919876543210``, ``+919876543210``) in
    E.164, as the ledger keeps addresses (``None``: not a phone number)."""
    import phonenumbers

    digits = re.sub(r"[^\d+]", "", number or "")
    if not digits:
        return None
    if not digits.startswith("+") and len(digits) == 12 and digits.startswith("91"):
        digits = "+" + digits
    try:
        parsed = phonenumbers.parse(digits, "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


@dataclass(frozen=True)
class FlowCall:
    """What a call token names: the delivery (``recipient``: the person's name in the config,
    ``text``: what to speak) and, for an escalation step, its escalation and step."""

    delivery_id: str
    recipient: str
    text: str
    escalation: EscalationRecord | None
    step: StepRecord | None
    #: the channel the call went out on (the acknowledgements metric's ``channel``)
    channel: str = ""


def flow_urls(public_url: str, secret: str | None) -> dict[str, str | None]:
    """The URLs to paste into an account's Exotel applets (``missed_call`` and ``oncall``:
    ``None`` without a flow secret)."""
    base = public_url.rstrip("/")
    return {
        name: None if "{secret}" in path and not secret else base + path.format(secret=secret)
        for name, path in FLOW_PATHS.items()
    }


def _digit(raw: str) -> str:
    """The key pressed: Exotel wraps ``digits`` in double quotes (``"1"``); accept it bare."""
    return raw.strip().strip('"').strip()


class FlowRoutes:
    """The handlers of the flow URLs (see the module docstring), for one Notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    # -- lookups ------------------------------------------------------------------------------------

    def call(self, token: str) -> FlowCall | None:
        """The call ``token`` names (``None``: not a genuine token)."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        batch, who = parsed
        state = self.notifier.ledger.routing
        for row in state.batch(batch):
            address = row["address"]
            if address is None or not hmac.compare_digest(_who(batch, address), who):
                continue
            if row["channel_type"] != "exotel-flow":  # another channel type's batch: no flow call
                return None
            found = state.escalation_of(row["notification_id"])
            record, step = found if found is not None else (None, None)
            return FlowCall(
                row["id"], row["recipient"], row["text"] or "", record, step, row["channel"] or ""
            )
        return None

    def keys(self, record: EscalationRecord | None) -> Keys | None:
        """The keys of an escalation's policy as configured now (``None``: not an escalation,
        or its policy is gone)."""
        if record is None:
            return None
        routing = self.notifier.config.routing
        policy = None if routing is None else routing.escalations.get(record.policy)
        return None if policy is None else policy.call_keys

    def account_of(self, secret: str) -> tuple[str, Any] | None:
        """The Exotel account whose ``flow_secret`` is ``secret`` (every account is compared,
        each in constant time)."""
        found = None
        for name, account in self.notifier.config.accounts.items():
            if account.provider != "exotel":
                continue
            expected = getattr(account.settings, "flow_secret", None)
            if expected and hmac.compare_digest(secret.encode(), str(expected).encode()):
                found = (name, account.settings)
        return found

    # -- handlers -----------------------------------------------------------------------------------

    def voice(self, request: Request) -> Response:
        """Greeting, "read text from URL": the call's text, then the key instructions."""
        call = self.call(_param(request, "CustomField"))
        if call is None:
            return Response.text(404, "unknown call", _NO_STORE)
        keys = self.keys(call.escalation)
        text = call.text.strip()
        if keys is not None and (say := keys.say()):
            text = f"{text} {say}" if text else say
        return Response.text(200, text, _NO_STORE)

    def digits(self, request: Request) -> Response:
        """Passthru after a Gather: the key pressed acts on the call's escalation."""
        call = self.call(_param(request, "CustomField"))
        if call is None:
            return Response.text(404, "unknown call", _NO_STORE)
        sid = _param(request, "CallSid")
        if not sid:
            raise HTTPProblem(400, "CallSid is missing")
        pressed = _digit(_param(request, "digits"))
        keys = self.keys(call.escalation)
        action = None if keys is None else keys.action(pressed)
        if action is None or call.escalation is None:
            logger.info("a flow call's key was not recognised (%r)", pressed[:4])
            return Response.text(302, "not recognised", _NO_STORE)
        where = (
            f" on the call of step {call.step.loop}.{call.step.index}"
            if call.step is not None
            else ""
        )
        done = self.notifier.act_on_escalation(
            call.escalation.id,
            action,
            by=call.recipient,
            via="keypress",
            detail=f"pressed {pressed}{where}",
            once=f"exotel-flow:{sid}:{pressed}",
            channel=call.channel,
        )
        return Response.text(200 if done else 302, "done" if done else "not done", _NO_STORE)

    def missed_call(self, request: Request) -> Response:
        """A missed call to an ExoPhone: acknowledge what pages the caller."""
        account = self.account_of(request.params["secret"])
        if account is None:
            return Response.error(404, "not found")
        sid = _param(request, "CallSid")
        caller = e164(_param(request, "From"))
        if not sid:
            raise HTTPProblem(400, "CallSid is missing")
        if caller is None:
            return Response.text(302, "no caller", _NO_STORE)
        state = self.notifier.ledger.routing
        once = f"exotel-missed-call:{sid}"
        with state.unit("claiming a missed call") as unit:
            fresh, result = unit.claim_idempotency(once, self.notifier.clock())
        if not fresh:
            return Response.text(200 if result == "done" else 302, result or "", _NO_STORE)
        acked: list[str] = []
        for escalation_id, recipient in self.notifier.escalations_paging(caller):
            if self.notifier.act_on_escalation(
                escalation_id,
                "ack",
                by=recipient,
                via="missed-call",
                detail="a missed call to the ExoPhone",
            ):
                acked.append(escalation_id)
        with state.unit("finishing a missed call") as unit:
            unit.finish_idempotency(once, "done" if acked else "not done")
        if acked:
            self._confirm(account[1], caller, acked)
        return Response.text(200 if acked else 302, "done" if acked else "nothing", _NO_STORE)

    def oncall(self, request: Request) -> Response:
        """Connect, "dial whom" URL: the number of whoever is on call now."""
        account = self.account_of(request.params["secret"])
        if account is None:
            return Response.error(404, "not found")
        schedules = list(getattr(self.notifier.config, "schedules", None) or {})
        name = (
            _param(request, "schedule")
            or getattr(account[1], "oncall_schedule", None)
            or (schedules[0] if len(schedules) == 1 else "")
        )
        if not name:
            raise HTTPProblem(
                400,
                "name the schedule (&schedule=NAME, or the account's oncall_schedule): the "
                f"config has {len(schedules)}",
            )
        if name not in schedules:
            return Response.text(404, "no such schedule", _NO_STORE)
        who = self.notifier.oncall(name).who
        recipient = self.notifier.config.recipients.get(who) if who else None
        phone = getattr(recipient, "phone", None)
        if not phone:
            logger.warning("the on-call URL of schedule %s: nobody with a phone is on call", name)
            return Response.text(404, "nobody is on call", _NO_STORE)
        return Response.text(200, str(phone), _NO_STORE)

    def _confirm(self, settings: Any, caller: str, acked: list[str]) -> None:
        """With ``missed_call_sms`` set: tell the caller what their missed call acknowledged
        (a failure is logged: the acknowledgement stands)."""
        channel = getattr(settings, "missed_call_sms", None)
        if not channel:
            return
        state = self.notifier.ledger.routing
        names = []
        for escalation_id in acked:
            record = state.escalation(escalation_id)
            if record is not None:
                names.append(record.alert.event)
        text = CONFIRMATION.format(alerts=", ".join(dict.fromkeys(names)) or "your alert")
        try:
            report = self.notifier.send(channel, to=caller, body=text, event="missed-call-ack")
        except Exception as err:
            logger.error("the missed-call confirmation was not sent: %s", type(err).__name__)
            return
        if not report.ok:
            logger.warning("the missed-call confirmation was not sent: %s", report.summary())


def _param(request: Request, name: str) -> str:
    """One query parameter (the first; ``""`` when absent). Exotel may add parameters: the
    others are ignored."""
    from urllib.parse import parse_qs

    values = parse_qs(request.environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
    return values[0] if values else ""


def register(add_route: Callable[..., None], notifier: Notifier) -> FlowRoutes:
    """Add the flow routes to the status server (the ``register_routes`` hook)."""
    routes = FlowRoutes(notifier)
    add_route(r"/exotel/voice", routes.voice, ("GET", "HEAD"))
    # The actions answer GET only: a HEAD (a prefetcher, a link checker) changes nothing.
    add_route(r"/exotel/digits", routes.digits, ("GET",))
    add_route(rf"/exotel/(?P<secret>{_SECRET})/missed-call", routes.missed_call, ("GET",))
    add_route(rf"/exotel/(?P<secret>{_SECRET})/oncall", routes.oncall, ("GET", "HEAD"))
    return routes
