"""The ``exotel-whatsapp`` channel: approved WhatsApp template messages through Exotel's v2
messages API, with a quick-reply "Acknowledge" button whose reply acknowledges the escalation
(docs/plugins/exotel-whatsapp.md says what of Exotel's API is confirmed and what is not).

- Sending: ``POST /v2/accounts/<sid>/messages`` with a JSON body
  ``{"whatsapp": {"messages": [{"from", "to", "content": {"type": "template", "template":
  {"name", "language": {"code"}, "components": [body parameters, the quick-reply button's
  payload]}}}]}}`` (plus ``status_callback`` when the channel has a ``reply_url``), Basic auth
  with the account's API key and token, through the account's rate limiter. A 2xx naming the
  message's id is ``sent``; a 2xx without one, a 5xx other than 503, a timeout or a dropped
  connection after the request went out is ``unknown`` (it may have been sent: never resent);
  a refusal (401, 403, 400 "template"...) is ``failed``, as for :mod:`.channels`' SMS.
- The reply: Exotel POSTs the recipient's messages to ``<reply_url>`` = ``https://<public
  host>/exotel/whatsapp/<secret>`` (served by ``notifykit serve`` through the
  ``register_routes`` hook). The secret is compared in constant time with every
  ``exotel-whatsapp`` channel's ``webhook_secret``; a wrong one is ``404`` and logged without
  the path. A button reply whose context names a message id the ledger holds for an
  ``exotel-whatsapp`` delivery acknowledges that delivery's escalation, in the name of its
  recipient, with the audit path ``whatsapp``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    Message,
    Recipient,
    send_stopped,
)
from notifykit.errors import TemplateRenderError

# the settings are declared with the plugin's others: registering the channel type does not
# import this module
from notifykit_exotel.settings import WHATSAPP_SECRET as _SECRET
from notifykit_exotel.settings import WhatsAppSettings, WhatsAppTemplateSettings

if TYPE_CHECKING:
    from notifykit.notifier import Notifier
    from notifykit.server.http import Request, Response
    from notifykit_exotel.client import ExotelClient
    from notifykit_exotel.errors import ExotelError

__all__ = [
    "ACK_PAYLOAD",
    "CHANNEL_TYPE",
    "WhatsAppChannel",
    "WhatsAppSettings",
    "WhatsAppTemplateSettings",
    "button_replies",
    "message_id",
    "register",
]

logger = logging.getLogger("notifykit.exotel.whatsapp")

CHANNEL_TYPE = "exotel-whatsapp"
#: the payload of the quick-reply button, as sent and as looked for in a reply
ACK_PAYLOAD = "notifykit-ack"
_ACK_WORDS = frozenset({ACK_PAYLOAD, "ack", "acknowledge", "acknowledged"})


def check_reply_settings(settings: WhatsAppSettings) -> None:
    """What the settings alone cannot see (``config check`` builds every channel): a
    ``reply_url`` needs a ``webhook_secret``, and must end in ``/exotel/whatsapp/<that
    secret>``. Neither value is repeated in the message."""
    secret, url = settings.webhook_secret, settings.reply_url
    if url and not secret:
        raise ValueError(
            "reply_url sends the replies to notifykit serve, but webhook_secret is not set: "
            "set webhook_secret: ${ENV} and end reply_url with /exotel/whatsapp/<that secret>"
        )
    if url and secret and not url.rstrip("/").endswith(f"/exotel/whatsapp/{secret}"):
        raise ValueError(
            "reply_url must end with /exotel/whatsapp/<webhook_secret> (this channel's secret), "
            "or the replies are refused (404) and nothing is acknowledged"
        )


def _lookup(name: str, message: Message) -> Any:
    scope: dict[str, Any] = {
        "text": message.text,
        "event": message.event,
        "severity": message.severity,
        **dict(message.routing),
        **dict(message.data),
    }
    value: Any = scope
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class WhatsAppChannel:
    """The ``exotel-whatsapp`` channel (see the module docstring)."""

    def __init__(self, settings: WhatsAppSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.settings = settings
        self.client: ExotelClient = context.client(settings.account)
        self._pool: Any = None
        check_reply_settings(settings)

    # -- planning -----------------------------------------------------------------------------------

    def prepare(self, message: Message) -> Message:
        own = message.template_settings.of(WhatsAppTemplateSettings)
        name = own.whatsapp_template or self.settings.template
        where = f"template {message.template!r}" if message.template else "the message"
        if not name:
            raise TemplateRenderError(
                f"{where} names no WhatsApp template: set whatsapp_template on it, or template "
                f"on channel {self.name!r}",
                template=message.template,
            )
        values: list[str] = []
        for variable in self.settings.variables:
            value = _lookup(variable, message)
            if value is None or not str(value).strip():
                raise TemplateRenderError(
                    f"{where}: the WhatsApp variable {variable!r} is empty",
                    template=message.template,
                )
            # WhatsApp refuses new lines, tabs and more than 4 spaces in a parameter
            values.append(re.sub(r"\s+", " ", str(value)).strip()[:1024])
        options = {
            "template": name,
            "language": own.whatsapp_language or self.settings.language,
            "variables": values,
        }
        return message.with_options(**options)

    def describe(self, message: Message) -> dict[str, Any]:
        own = message.template_settings.of(WhatsAppTemplateSettings)
        return {
            "from": self.settings.from_,
            "template": own.whatsapp_template or self.settings.template,
            "ack_button": self.settings.ack_button,
        }

    # -- sending ------------------------------------------------------------------------------------

    def body(self, options: Mapping[str, Any], to: str) -> dict[str, Any]:
        """The JSON body of one message to ``to``."""
        components: list[dict[str, Any]] = []
        variables = options.get("variables") or []
        if variables:
            components.append(
                {"type": "body", "parameters": [{"type": "text", "text": v} for v in variables]}
            )
        if self.settings.ack_button:
            components.append(
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": ACK_PAYLOAD}],
                }
            )
        template = {
            "name": options["template"],
            "language": {"code": options["language"]},
            "components": components,
        }
        body: dict[str, Any] = {
            "whatsapp": {
                "messages": [
                    {
                        "from": self.settings.from_,
                        "to": to,
                        "content": {"type": "template", "template": template},
                    }
                ]
            }
        }
        if self.settings.reply_url:
            body["status_callback"] = self.settings.reply_url
        return body

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        stopped = send_stopped()
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        options = dict(message.options) or dict(self.prepare(message).options)
        return [self._send_one(options, r) for r in recipients]

    def _send_one(self, options: Mapping[str, Any], recipient: Recipient) -> DeliveryResult:
        from notifykit_exotel.channels import _failure
        from notifykit_exotel.errors import ExotelError

        to = recipient.phone or ""
        try:
            data = self._post(json.dumps(self.body(options, to)).encode("utf-8"), to)
        except ExotelError as err:
            return _failure(recipient, err)
        sid = message_id(data)
        if sid is None:
            return DeliveryResult.unknown(
                recipient, "Exotel accepted the WhatsApp request but named no message id"
            )
        return DeliveryResult.sent(recipient, provider_id=sid, provider_status="accepted")

    def _http(self) -> Any:
        if self._pool is None:
            import base64

            from notifykit.http import HttpPool

            client = self.client
            token: str = client._token
            basic = base64.b64encode(f"{client.api_key}:{token}".encode("latin-1")).decode()
            self._pool = HttpPool(
                client.base_url,
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": "notifykit-exotel-whatsapp",
                },
                timeout=client.timeout,
                scrub=client._scrub,
                name="Exotel",
            )
        return self._pool

    def _post(self, payload: bytes, to: str) -> Any:
        """One POST to the messages API, through the account's limiter and retry policy; the
        answer's JSON, or an :class:`ExotelError`."""
        from notifykit import http
        from notifykit.http import retry_after
        from notifykit_exotel.errors import ExotelError, error_for_response
        from notifykit_exotel.transport import exotel_error

        client = self.client
        url = f"{client.base_url}/v2/accounts/{client.sid}/messages"
        shown = "/v2/accounts/<sid>/messages"
        attempt = 0
        while True:
            limiter = client.rate_limiter
            if limiter is not None:
                limiter.acquire()
            error: ExotelError
            status: int | None = None
            reached = True
            try:
                if client.before_request is not None:
                    client.before_request([to])
                try:
                    status, headers, text = self._http().exchange("POST", url, body=payload)
                except http.NoAnswer as failed:
                    error, reached = exotel_error(failed, "POST", shown)
                else:
                    if 200 <= status < 300:
                        try:
                            return json.loads(text)
                        except ValueError:
                            raise ExotelError(
                                f"Exotel answered HTTP {status} with a body that is not JSON",
                                status=status,
                                method="POST",
                                url=shown,
                                maybe_sent=True,
                            ) from None
                    error = error_for_response(
                        status,
                        client._scrub(text),
                        method="POST",
                        url=shown,
                        retry_after=retry_after(headers.get("Retry-After")),
                    )
            finally:
                release = getattr(limiter, "release", None)
                if release is not None:
                    release()
            if attempt >= client.retry.max_retries or not client.retry.should_retry(
                "POST", status=status, reached_server=reached
            ):
                raise error
            client.retry.sleep(client.retry.delay(attempt, error.retry_after))
            attempt += 1


def message_id(data: Any) -> str | None:
    """The message id in an answer of the messages API: ``response.whatsapp.messages[0]
    .data.sid`` (the shape of Exotel's v2 answers; unconfirmed for this API), else a top-level
    ``sid`` or ``id``; ``None`` when it names none (or says the message failed)."""
    if not isinstance(data, Mapping):
        return None
    response = data.get("response")
    if isinstance(response, Mapping):
        whatsapp = response.get("whatsapp")
        messages = whatsapp.get("messages") if isinstance(whatsapp, Mapping) else None
        if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
            first = messages[0]
            inner = first.get("data")
            if isinstance(inner, Mapping) and inner.get("sid"):
                return str(inner["sid"])
            return None
    for key in ("sid", "id"):
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    return None


# -- replies ------------------------------------------------------------------------------------


def _messages(data: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(data, Mapping):
        return
    whatsapp = data.get("whatsapp")
    if isinstance(whatsapp, Mapping) and isinstance(whatsapp.get("messages"), list):
        yield from (m for m in whatsapp["messages"] if isinstance(m, Mapping))
    if isinstance(data.get("message"), Mapping):
        yield data["message"]


def _context_id(message: Mapping[str, Any]) -> str | None:
    content = message.get("content")
    for holder in (message, content if isinstance(content, Mapping) else {}):
        context = holder.get("context")
        if isinstance(context, Mapping):
            for key in ("id", "sid", "message_id"):
                if isinstance(context.get(key), str) and context[key]:
                    return str(context[key])
    return None


def _button(message: Mapping[str, Any]) -> str | None:
    content = message.get("content")
    holder: Mapping[str, Any] = content if isinstance(content, Mapping) else message
    button = holder.get("button")
    if isinstance(button, Mapping):
        return str(button.get("payload") or button.get("text") or "") or None
    interactive = holder.get("interactive")
    if isinstance(interactive, Mapping):
        reply = interactive.get("button_reply")
        if isinstance(reply, Mapping):
            return str(reply.get("id") or reply.get("title") or "") or None
    return None


def button_replies(data: Any) -> list[tuple[str, str]]:
    """``(replied-to message id, button payload or text)`` of each button reply in a webhook
    body (Exotel's ``{"whatsapp": {"messages": [...]}}``, or ``{"message": {...}}``)."""
    found = []
    for message in _messages(data):
        button, context = _button(message), _context_id(message)
        if button is not None and context is not None:
            found.append((context, button))
    return found


class ReplyRoutes:
    """``POST /exotel/whatsapp/<secret>``: Exotel's webhook for the replies."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def _secret_matches(self, given: str) -> bool:
        matched = False
        for channel in self.notifier.config.channels.values():
            settings = channel.settings
            if isinstance(settings, WhatsAppSettings) and settings.webhook_secret:
                # every secret compared, in constant time each
                matched |= hmac.compare_digest(given.encode(), settings.webhook_secret.encode())
        return matched

    def reply(self, request: Request) -> Response:
        from notifykit.server.http import Response  # only when serve answers a reply

        if not self._secret_matches(request.params["secret"]):
            logger.warning("refused a WhatsApp reply: not a configured webhook secret (404)")
            return Response.text(404, "not found")
        try:
            data = json.loads(request.body().decode("utf-8"))
        except ValueError:
            return Response.text(400, "not a JSON body")
        acked = 0
        for context, button in button_replies(data):
            if button.strip().lower() not in _ACK_WORDS:
                logger.info("a WhatsApp reply's button was not Acknowledge; ignored")
                continue
            acked += self.acknowledge(context)
        return Response.json(200, {"acknowledged": acked})

    def acknowledge(self, provider_id: str) -> int:
        """Acknowledge the escalation of the delivery Exotel knows as ``provider_id``, as its
        recipient, audit path ``whatsapp`` (:meth:`Notifier.act_on_escalation`, once per
        message: a second tap does nothing again); how many escalations that acknowledged."""
        ledger = self.notifier.ledger
        for delivery in ledger.by_provider_id(provider_id, CHANNEL_TYPE):
            found = ledger.routing.escalation_of(delivery.notification_id)
            if found is None:
                logger.info("a WhatsApp Acknowledge answered a message of no escalation")
                return 0
            record, step = found
            done = self.notifier.act_on_escalation(
                record.id,
                "ack",
                by=delivery.recipient,
                via="whatsapp",
                detail=f"tapped Acknowledge on the WhatsApp message of step {step.loop}.{step.index}",
                once=f"{CHANNEL_TYPE}:{provider_id}:ack",
                channel=delivery.channel,
            )
            return int(done)
        logger.info("a WhatsApp Acknowledge answered a message this ledger does not know")
        return 0


def register(add_route: Callable[..., None], notifier: Notifier) -> ReplyRoutes:
    """Add the reply route to the status server (the ``register_routes`` hook)."""
    routes = ReplyRoutes(notifier)
    add_route(rf"/exotel/whatsapp/(?P<secret>{_SECRET})", routes.reply, ("POST",))
    return routes
