"""The ``webhook`` channel: one POST per delivery, and every answer (or its absence) mapped to a
delivery state by the rule that never pages a person twice: a request that may have reached the
receiver is ``unknown``, never ``failed``, and is never sent again unless the channel says
``retry_unknown: true`` (then with the same ``Idempotency-Key``).

=============================================  ===========================================
What happened                                  Delivery
=============================================  ===========================================
2xx                                            ``sent`` (provider id: the answer's JSON
                                               ``id``, else its ``X-Request-Id``, else the
                                               delivery id)
408, 429                                       ``failed``, transient: retried by the
                                               channel's retry policy (``Retry-After``
                                               honoured)
401, 402, 403, 404, 410                        ``failed``, the receiver's side
                                               (``account=True``: our credentials or
                                               signature refused, its plan, the endpoint
                                               gone; a channel's ``fallback`` takes it)
any other 4xx                                  ``failed`` (the status and the start of the
                                               body)
303                                            ``unknown`` (a POST's usual "done, see
                                               there")
other 3xx                                      ``failed``: a POST's redirect is never
                                               followed (the message names the Location's
                                               host)
5xx, a timeout, a connection dropped after     ``unknown`` (with ``retry_unknown``: sent
the request, any other answer                  again by the retry policy, same key)
refused, DNS failure, connect timeout, TLS     ``failed``, transient: certainly not sent
certificate refused                            (retried by the policy, then ``failed``)
=============================================  ===========================================

Nothing a message, result or exception carries shows the URL beyond its scheme and host, the
secret, a header value or a query token (:meth:`WebhookChannel.scrub`).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    Message,
    Recipient,
    request_starting,
    send_stopped,
)
from notifykit.errors import TemplateRenderError
from notifykit.http import (
    HttpPool,
    NoAnswer,
    UnsupportedProxyError,
    origin,
    retry_after,
    scrub_urllib3_logs,
)
from notifykit_webhook.settings import WebhookSettings
from notifykit_webhook.signature import SIGNATURE_HEADER, sign

__all__ = ["ADDRESS", "MAX_ANSWER", "VERSION", "WebhookChannel", "build_body"]

#: the recipient address kind the channel posts for (``addresses: {webhook: ...}``)
ADDRESS = "webhook"
#: the most of an answer's body read (the rest is never read)
MAX_ANSWER = 64 * 1024
#: how much of an answer's body an error shows
_SHOWN = 200
#: the version of the ``notifykit`` body (``"version"`` in it)
VERSION = 1
#: the routing variables ``prepare`` keeps in the options for ``send``
_ROUTING_KEYS = ("labels", "alert_key", "status", "ack_url")

#: refusals that lie with the receiver or our account with it, never with the person paged (a
#: webhook's post is the same whoever it pages): our ``headers`` or signing ``secret`` refused
#: (401, 403), the receiver's plan (402), the endpoint not there or retired (404, 410). A
#: ``failed`` delivery with one of them has ``account=True``: a channel's ``fallback`` takes
#: the message. Another 4xx (400, 413, 422...) is about the post itself and does not.
ACCOUNT_STATUSES = frozenset({401, 402, 403, 404, 410})


def _user_agent() -> str:
    from notifykit import __version__

    return f"notifykit-webhook/{__version__}"


def build_body(
    shape: str, message: Message, recipient: Recipient, delivery_id: str, channel: str
) -> dict[str, Any]:
    """The JSON a delivery is posted as: ``notifykit`` (everything a receiver needs), or a chat
    service's shape (``slack``/``mattermost``: ``{"text"}``; ``teams``: an Adaptive Card
    message, as Teams Workflows webhooks take)."""
    text = message.text or ""
    if shape in ("slack", "mattermost"):
        return {"text": text}
    if shape == "teams":
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.2",
                        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
                    },
                }
            ],
        }
    options = message.options
    return {
        "version": VERSION,
        "event": message.event,
        "severity": message.severity,
        "status": options.get("status"),
        "labels": dict(options.get("labels") or {}),
        "data": dict(message.data),
        "text": message.text,
        "alert_key": options.get("alert_key"),
        "delivery_id": delivery_id,
        "ack_url": options.get("ack_url"),
        "recipient": {"name": recipient.name, "address": recipient.address(ADDRESS)},
        "channel": channel,
    }


def _token_like(segment: str) -> bool:
    """A path segment that may be a credential: long, or mixing digits in (``T0123ABCD``, a
    Slack webhook's last segment), not a word such as ``hook`` or ``services``."""
    return len(segment) >= 16 or (len(segment) >= 8 and any(c.isdigit() for c in segment))


def _secrets_of(url: str, secret: str | None, headers: Mapping[str, str]) -> list[str]:
    """What must never be shown: the secret, header values, and the URL's credentials (its whole
    text, its path, the segments of it that look like tokens, its query and each query value,
    a user's password)."""
    found = [secret or "", *headers.values(), url]
    try:
        parts = urlsplit(url)
        found += [parts.password or "", parts.query, parts.path if len(parts.path) >= 8 else ""]
        found += [value for _name, value in parse_qsl(parts.query, keep_blank_values=True)]
        found += [segment for segment in parts.path.split("/") if _token_like(segment)]
    except ValueError:
        pass
    # shorter than 4 characters, a "secret" would blank out ordinary words
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _one_line(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class WebhookChannel:
    """The ``webhook`` channel (see the module docstring)."""

    def __init__(self, settings: WebhookSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self._url = settings.url
        self._secret = settings.secret
        self._headers = dict(settings.headers)
        self._shape = settings.body
        self._timeout = float(settings.timeout)
        self._retry_unknown = settings.retry_unknown
        self._secrets = _secrets_of(self._url, self._secret, self._headers)
        #: what messages call the receiver: the URL's scheme and host, nothing more
        where = self.scrub(origin(self._url))
        self.shown = f"the webhook at {where}" if where else "the webhook"
        if self._shape == "notifykit" and not self._secret:
            raise ValueError(
                "body: notifykit needs a secret to sign each post with (the receiver checks "
                "Notifykit-Signature with it): add secret: ${WEBHOOK_SECRET}"
            )
        self._pool: HttpPool | None = None
        self._lock = threading.Lock()
        scrub_urllib3_logs(self)  # urllib3 logs each request's path and query at DEBUG

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, {self.shown!r}, body={self._shape!r})"

    def scrub(self, text: str) -> str:
        """``text`` without the secret, a header value, or the URL's path, query or password."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- the channel contract ---------------------------------------------------------------

    def prepare(self, message: Message) -> Message:
        if self._shape != "notifykit" and not (message.text or "").strip():
            what = f"template {message.template!r}" if message.template else "the body"
            raise TemplateRenderError(
                f"{what} rendered an empty text, which a {self._shape} webhook refuses",
                template=message.template,
            )
        kept = {
            key: message.routing[key]
            for key in _ROUTING_KEYS
            if message.routing.get(key) not in (None, {}, "")
        }
        return message.with_options(**kept) if kept else message

    def describe(self, message: Message) -> dict[str, Any]:
        """For ``routes test``: where it posts (the URL's scheme and host only: the rest may be
        a credential) and the body's shape; a webhook has no sender nor priority."""
        return {
            "from": None,
            "priority": None,
            "endpoint": self.scrub(origin(self._url)) or None,
            "body": self._shape,
        }

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        stopped = send_stopped()  # Ctrl-C, SIGTERM: no new request starts
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        results: list[DeliveryResult] = []
        for index, recipient in enumerate(recipients):
            reason = request_starting([recipient.address(ADDRESS) or ""])
            if reason is not None:
                results += [DeliveryResult.not_started(r, reason) for r in recipients[index:]]
                break
            results.append(self._post(message, recipient))
        return results

    def close(self) -> None:
        """Close the channel's connections (a later send opens new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- one post ---------------------------------------------------------------------------

    def _connections(self) -> HttpPool:
        with self._lock:
            if self._pool is None:
                self._pool = HttpPool(
                    self._url, headers={}, timeout=self._timeout, scrub=self.scrub, name=self.shown
                )
            return self._pool

    def _post(self, message: Message, recipient: Recipient) -> DeliveryResult:
        # A recipient always has its delivery's id in a real send; one built by hand gets an id
        # of its own (then a retry of it is a new post, which the receiver cannot recognise).
        delivery_id = recipient.delivery_id or os.urandom(16).hex()
        payload = build_body(self._shape, message, recipient, delivery_id, self.name)
        try:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        except (ValueError, RecursionError) as err:  # nested too deep, or a circle
            return DeliveryResult.failed(
                recipient, f"not sent: its data cannot be written as JSON ({type(err).__name__})"
            )
        data = body.encode("utf-8")
        headers = {
            "User-Agent": _user_agent(),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": delivery_id,
            **self._headers,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, data)
        try:
            pool = self._connections()
        except ValueError as err:  # a SOCKS proxy without PySocks, a URL urllib3 cannot use
            what = str(err) if isinstance(err, UnsupportedProxyError) else type(err).__name__
            return DeliveryResult.failed(
                recipient, f"not sent: {self.shown} cannot be reached: {self.scrub(what)}"
            )
        try:
            status, answer, text = pool.exchange(
                "POST", self._url, body=data, headers=headers, max_body=MAX_ANSWER
            )
        except NoAnswer as failure:
            return self._no_answer(recipient, failure)
        return self._answered(recipient, delivery_id, status, answer, text)

    def _answered(
        self,
        recipient: Recipient,
        delivery_id: str,
        status: int,
        headers: Mapping[str, str],
        text: str,
    ) -> DeliveryResult:
        shown = self.shown
        said = self.scrub(_one_line(text))
        detail = f": {said}" if said else ""
        if 200 <= status < 300:
            return DeliveryResult.sent(
                recipient,
                provider_id=self._receipt(text, headers) or delivery_id,
                provider_status=f"HTTP {status}",
            )
        if status in (408, 429):
            wait = retry_after(headers.get("Retry-After"))
            return DeliveryResult.failed(
                recipient,
                f"{shown} answered HTTP {status}{detail}: not processed, tried again later",
                transient=True,
                retry_after=wait,
                http_status=status,
            )
        if 400 <= status < 500:
            return DeliveryResult.failed(
                recipient,
                f"{shown} refused it: HTTP {status}{detail}",
                account=status in ACCOUNT_STATUSES,
                http_status=status,
            )
        if 300 <= status < 400:
            location = headers.get("Location") or ""
            try:
                target = origin(urljoin(self._url, location)) if location else ""
            except ValueError:
                target = ""
            where = f" to {self.scrub(target)}" if target else " without a Location"
            if status == 303:
                return self._maybe_sent(
                    recipient,
                    f"{shown} answered HTTP 303 See Other{where}, which usually means the post "
                    "was processed; a POST's redirect is never followed",
                    http_status=status,
                )
            return DeliveryResult.failed(
                recipient,
                f"{shown} answered HTTP {status}, a redirect{where}: a POST's redirect is never "
                "followed; point url at the new address",
                http_status=status,
            )
        return self._maybe_sent(
            recipient, f"{shown} answered HTTP {status}{detail}", http_status=status
        )

    def _no_answer(self, recipient: Recipient, failure: NoAnswer) -> DeliveryResult:
        shown, reason = self.shown, self.scrub(failure.reason)
        if not failure.reached:
            return DeliveryResult.failed(
                recipient, f"not sent: could not connect to {shown} ({reason})", transient=True
            )
        if failure.kind == "timeout":
            what = f"{shown} did not answer within {self._timeout:g}s ({reason})"
        elif failure.kind == "connection":
            what = f"the connection to {shown} failed after the post was sent ({reason})"
        else:
            what = f"the post to {shown} failed ({reason})"
        return self._maybe_sent(recipient, what)

    def _maybe_sent(self, recipient: Recipient, what: str, **info: Any) -> DeliveryResult:
        if self._retry_unknown:
            then = "sent again with the same Idempotency-Key (retry_unknown: true)"
        else:
            then = (
                "not sent again (set retry_unknown: true if the receiver honours Idempotency-Key)"
            )
        return DeliveryResult.unknown(
            recipient,
            f"{what}: it may have been received; {then}",
            idempotent=self._retry_unknown,
            **info,
        )

    @staticmethod
    def _receipt(text: str, headers: Mapping[str, str]) -> str | None:
        """The receiver's id for the post: its JSON ``id``, else its ``X-Request-Id``."""
        try:
            answer = json.loads(text) if text.lstrip().startswith("{") else None
        except (ValueError, RecursionError):
            answer = None
        if isinstance(answer, dict):
            found = answer.get("id")
            if isinstance(found, (str, int)) and not isinstance(found, bool) and str(found):
                return str(found)[:200]
        header = headers.get("X-Request-Id")
        return header[:200] if header else None
