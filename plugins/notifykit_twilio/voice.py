"""The URLs a Twilio paging call fetches, served by the status server (``notifykit serve``)
through the ``register_routes`` hook (docs/plugins/twilio.md):

- ``POST /twilio/<account>/voice?t=<call token>``: the call's TwiML: the rendered
  ``<template>.voice`` text and, for an escalation step, the keys of its policy, inside a
  ``<Gather numDigits="1" action=".../gather?t=...">``, said ``repeat`` times.
- ``POST /twilio/<account>/gather?t=<call token>`` (``Digits``, ``CallSid``): the key pressed
  acknowledges, escalates or resolves the call's escalation, as the person called; a replay of
  the same CallSid and key does nothing again and answers the same.

Every request must carry Twilio's signature: ``X-Twilio-Signature``, an HMAC-SHA1 keyed by the
account's auth token over the URL Twilio requested (``server.public_url`` + path + query)
followed by the POST parameters sorted by name, checked with the ``twilio`` package's
``RequestValidator``. A request without one, or with one that does not verify, is answered
``403`` before anything is looked up, and logged without the query (which holds the token) or
any secret.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

from notifykit.server.http import Request, Response
from notifykit_twilio.settings import AccountSettings, CallSettings
from notifykit_twilio.tokens import parse_token, who

if TYPE_CHECKING:
    from notifykit.ledger.state import EscalationRecord, StepRecord
    from notifykit.notifier import Notifier

__all__ = ["CALL_TYPE", "DefaultKeys", "TwilioCall", "VoiceRoutes", "register"]

logger = logging.getLogger("notifykit.twilio.voice")

CALL_TYPE = "twilio-call"
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
_HEADERS = (("Content-Type", "text/xml; charset=utf-8"), ("Cache-Control", "no-store"))
_WORDS = {
    "ack": "Acknowledged. Nobody else will be called for it. Goodbye.",
    "escalate": "Sent on to the next person. Goodbye.",
    "resolve": "Resolved. Goodbye.",
    "snooze": "Snoozed. You will be paged again when the snooze ends. Goodbye.",
}


class Keys(Protocol):
    """The keys of a call: what to say of them, and what a key does."""

    def say(self) -> str: ...
    def action(self, digit: str) -> str | None: ...


class DefaultKeys:
    """1 acknowledges, 2 sends it to the next person (where the core can), 3 resolves: the keys
    of a policy that declares none."""

    def __init__(self, escalate: bool) -> None:
        self.keys = {"1": "ack", "3": "resolve"} | ({"2": "escalate"} if escalate else {})

    def say(self) -> str:
        if "2" in self.keys:
            return "Press 1 to acknowledge, 2 to send it to the next person, 3 to resolve."
        return "Press 1 to acknowledge, 3 to resolve."

    def action(self, digit: str) -> str | None:
        return self.keys.get(digit)


@dataclass(frozen=True)
class TwilioCall:
    """What a call token names: the delivery, who it went to (the config's name), the text to
    speak, the channel's settings, and for an escalation step its escalation and step."""

    delivery_id: str
    recipient: str
    text: str
    settings: CallSettings | None
    escalation: EscalationRecord | None
    step: StepRecord | None
    #: the channel the call went out on (the acknowledgements metric's ``channel``)
    channel: str = ""


def _takes(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes the keyword ``name`` (a core older than it does not)."""
    import inspect

    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _twiml(*parts: str) -> Response:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(parts) + "</Response>"
    return Response(200, body.encode("utf-8"), _HEADERS)


class VoiceRoutes:
    """The handlers of the call URLs (see the module docstring), for one Notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    # -- the signature ------------------------------------------------------------------------------

    def verified(self, request: Request) -> dict[str, str] | None:
        """The request's POST parameters when its ``X-Twilio-Signature`` verifies with its
        account's auth token, else ``None`` (logged: what was wrong, never the query)."""
        from twilio.request_validator import RequestValidator

        name = request.params["account"]
        account = self.notifier.config.accounts.get(name)
        public = self.notifier.config.server.public_url
        signature = request.header("X-Twilio-Signature")
        body = request.body()
        params = {
            key: values[0]
            for key, values in parse_qs(
                body.decode("utf-8", errors="replace"), keep_blank_values=True
            ).items()
        }
        problem = None
        if account is None or not isinstance(account.settings, AccountSettings):
            problem = "no Twilio account has that name"
        elif not public:
            problem = "server.public_url is not set"
        elif not signature:
            problem = "no X-Twilio-Signature"
        else:
            query = request.environ.get("QUERY_STRING", "")
            url = public.rstrip("/") + request.path + (f"?{query}" if query else "")
            validator = RequestValidator(account.settings.auth_token)
            if not validator.validate(url, params, signature):
                problem = "an X-Twilio-Signature that does not verify"
        if problem is not None:
            logger.warning("refused %s %s: %s (403)", request.method, request.path, problem)
            return None
        return params

    # -- lookups ------------------------------------------------------------------------------------

    def call(self, token: str) -> TwilioCall | None:
        """The call ``token`` names (``None``: not a genuine token)."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        batch, digest = parsed
        ledger = self.notifier.ledger
        for delivery in ledger.by_token(batch):
            address = delivery.address
            if address is None or not hmac.compare_digest(who(batch, address), digest):
                continue
            if delivery.channel_type != CALL_TYPE:
                return None
            text = self.notifier.report(delivery.notification_id).messages.get(delivery.channel)
            channel = self.notifier.config.channels.get(delivery.channel)
            settings = channel.settings if channel is not None else None
            found = ledger.routing.escalation_of(delivery.notification_id)
            record, step = found if found is not None else (None, None)
            return TwilioCall(
                delivery.id,
                delivery.recipient,
                text or "",
                settings if isinstance(settings, CallSettings) else None,
                record,
                step,
                delivery.channel,
            )
        return None

    def keys(self, record: EscalationRecord | None) -> Keys | None:
        """The keys of an escalation's policy (its ``keys:`` where the core has them, else
        :class:`DefaultKeys`); ``None``: not an escalation, or its policy is gone."""
        if record is None:
            return None
        routing = self.notifier.config.routing
        policy = None if routing is None else routing.escalations.get(record.policy)
        if policy is None:
            return None
        declared: Keys | None = getattr(policy, "call_keys", None)
        if declared is not None:
            return declared
        return DefaultKeys(escalate=hasattr(self.notifier, "act_on_escalation"))

    # -- handlers -----------------------------------------------------------------------------------

    def voice(self, request: Request) -> Response:
        """The call's TwiML: the text, then a Gather for the key."""
        params = self.verified(request)
        if params is None:
            return Response.text(403, "forbidden")
        token = _query(request, "t")
        call = self.call(token)
        if call is None:
            return _twiml("<Hangup/>")
        settings = call.settings or CallSettings(account=request.params["account"])
        say = _say(settings)
        keys = self.keys(call.escalation)
        text = call.text.strip()
        if keys is None:
            return _twiml(*[say(text) for _ in range(settings.repeat)])
        public = (self.notifier.config.server.public_url or "").rstrip("/")
        action = f"{public}/twilio/{request.params['account']}/gather?t={token}"
        gather = (
            f'<Gather numDigits="1" method="POST" action={quoteattr(action)} '
            f'timeout="{int(settings.gather_timeout)}">{say(f"{text} {keys.say()}".strip())}'
            "</Gather>"
        )
        return _twiml(*[gather] * settings.repeat, say("Nobody pressed a key. Goodbye."))

    def gather(self, request: Request) -> Response:
        """The key pressed acts on the call's escalation, as the person called."""
        params = self.verified(request)
        if params is None:
            return Response.text(403, "forbidden")
        call = self.call(_query(request, "t"))
        if call is None:
            return _twiml("<Hangup/>")
        settings = call.settings or CallSettings(account=request.params["account"])
        say = _say(settings)
        sid = params.get("CallSid", "")
        pressed = params.get("Digits", "").strip()[:1]
        keys = self.keys(call.escalation)
        action = None if keys is None else keys.action(pressed)
        if action is None or call.escalation is None or not sid:
            logger.info("a Twilio call's key was not recognised (%r)", pressed)
            return _twiml(say("That key does nothing. Goodbye."))
        where = (
            f" on the call of step {call.step.loop}.{call.step.index}"
            if call.step is not None
            else ""
        )
        done = self.act(
            call.escalation,
            action,
            by=call.recipient,
            detail=f"pressed {pressed}{where}",
            once=f"twilio-call:{sid}:{pressed}",
            channel=call.channel,
        )
        if not done:
            return _twiml(say("It was already taken care of. Goodbye."))
        return _twiml(say(_WORDS.get(action, "Done. Goodbye.")))

    def act(
        self,
        record: EscalationRecord,
        action: str,
        *,
        by: str,
        detail: str,
        once: str,
        channel: str = "",
    ) -> bool:
        """Act on the escalation through the Notifier's public API: its
        ``act_on_escalation`` (audit path ``keypress``; ``channel``, the call's, where the core
        takes it) where the core has it, else :meth:`Notifier.ack` / :meth:`Notifier.resolve`
        of the escalation's key, made idempotent per call and key through the ledger's
        idempotency table."""
        notifier: Any = self.notifier
        act_on = getattr(notifier, "act_on_escalation", None)
        if act_on is not None:
            extra = {"channel": channel} if _takes(act_on, "channel") else {}
            return bool(
                act_on(record.id, action, by=by, via="keypress", detail=detail, once=once, **extra)
            )
        state = self.notifier.ledger.routing
        with state.unit("claiming a keypress") as unit:
            fresh, result = unit.claim_idempotency(once, self.notifier.clock())
        if not fresh:
            return result == "done"
        done = False
        if action == "ack":
            done = any(e.id == record.id for e in self.notifier.ack(record.key, by=by))
        elif action == "resolve":
            done = bool(self.notifier.resolve(record.key, by=by))
        with state.unit("finishing a keypress") as unit:
            unit.finish_idempotency(once, "done" if done else "not done")
        return done


def _say(settings: CallSettings) -> Callable[[str], str]:
    def say(text: str) -> str:
        return (
            f"<Say voice={quoteattr(settings.voice)} language={quoteattr(settings.language)}>"
            f"{escape(text)}</Say>"
        )

    return say


def _query(request: Request, name: str) -> str:
    values = parse_qs(request.environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
    return values[0] if values else ""


def register(add_route: Callable[..., None], notifier: Notifier) -> VoiceRoutes:
    """Add the call routes to the status server (the ``register_routes`` hook)."""
    routes = VoiceRoutes(notifier)
    add_route(rf"/twilio/(?P<account>{_NAME})/voice", routes.voice, ("POST",))
    add_route(rf"/twilio/(?P<account>{_NAME})/gather", routes.gather, ("POST",))
    return routes
