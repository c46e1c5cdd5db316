"""The simulator's WhatsApp endpoint, ``POST /v2/accounts/<sid>/messages`` (JSON in and out),
and its admin calls: the messages it accepted, which template names are approved, and a button
reply POSTed to a webhook URL the way Exotel would deliver it.

What the endpoint answers is the simulator's model of Exotel's API, not a copy of it: the
request shape follows Exotel's "Send Template Messages API" page; the answer's shape
(``response.whatsapp.messages[0].data.sid``) and the reply's (``context.id`` naming the message
answered, ``content.button.payload``) are not confirmed by Exotel's pages (see
docs/plugins/exotel-whatsapp.md). Errors are answered with the v1 ``RestException`` object.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from .wire import AdminError, Answer, ApiError, json_object, to_json

__all__ = ["ADMIN", "PATH", "WhatsAppBook", "answer"]

#: the endpoint's path
PATH = re.compile(r"^/v2/accounts/(?P<account>[^/]+)/messages/?$")
#: the admin calls (docs/simulator.md has a heading for each)
ADMIN: dict[str, str] = {
    "GET /_sim/whatsapp": "every WhatsApp message accepted, by id",
    "POST /_sim/whatsapp/templates": '{"approved": ["alert_page"]} (null: any name is approved)',
    "POST /_sim/whatsapp/reply": '{"id": "<message id>", "url": "<webhook URL>", "payload": '
    '"notifykit-ack" (optional)}: POSTs the recipient\'s button reply to the URL; answers '
    '{"status": <HTTP status>}',
}


class WhatsAppBook:
    """The WhatsApp messages one simulator accepted, and the approved template names."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, dict[str, Any]] = {}
        #: ``None``: every template name is approved
        self.approved: set[str] | None = None

    def accept(self, body: Any) -> list[dict[str, Any]]:
        """Check and record the messages of a request body; their answer entries."""
        if not isinstance(body, dict) or not isinstance(body.get("whatsapp"), dict):
            raise ApiError(400, "the body needs a whatsapp object")
        messages = body["whatsapp"].get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(400, "whatsapp.messages must be a non-empty array")
        checked = []
        for message in messages:
            if not isinstance(message, dict) or not message.get("from") or not message.get("to"):
                raise ApiError(400, "each message needs from and to")
            content = message.get("content")
            template = content.get("template") if isinstance(content, dict) else None
            if not isinstance(template, dict) or not template.get("name"):
                raise ApiError(400, "content.template.name is required")
            language = template.get("language")
            if not isinstance(language, dict) or not language.get("code"):
                raise ApiError(400, "content.template.language.code is required")
            with self.lock:
                approved = self.approved
            if approved is not None and template["name"] not in approved:
                raise ApiError(400, f"template {template['name']!r} is not an approved template")
            checked.append(message)
        entries = []
        for message in checked:
            sid = uuid.uuid4().hex
            record = {
                "sid": sid,
                "from": message["from"],
                "to": message["to"],
                "template": message["content"]["template"],
                "status_callback": body.get("status_callback"),
                "accepted": time.time(),
            }
            with self.lock:
                self.messages[sid] = record
            entries.append({"code": 202, "status": "success", "data": {"sid": sid}})
        return entries


def answer(
    book: WhatsAppBook,
    admit: Callable[[str, tuple[str, str] | None], None],
    method: str,
    path: str,
    body: bytes,
    credentials: tuple[str, str] | None,
) -> Answer | None:
    """The answer to a request of the WhatsApp endpoint (``None``: not its path), kept in
    ``book``; ``admit(account, credentials)`` authenticates it and holds it to the account's
    rate limit (raising :class:`ApiError`)."""
    match = PATH.match(path)
    if match is None:
        return None
    try:
        if method != "POST":
            raise ApiError(405, f"Method {method} not allowed on {path}", headers={"Allow": "POST"})
        admit(match["account"], credentials)
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise ApiError(400, "the body is not JSON") from None
        entries = book.accept(data)
    except ApiError as err:
        return Answer(err.status, to_json(err.body()), "application/json", err.headers)
    payload = {
        "request_id": uuid.uuid4().hex,
        "method": "POST",
        "http_code": 202,
        "response": {"whatsapp": {"messages": entries}},
    }
    return Answer(202, to_json(payload), "application/json", {})


def reply_body(record: dict[str, Any], payload: str) -> dict[str, Any]:
    """The webhook body of the recipient pressing the quick-reply button of ``record``."""
    return {
        "whatsapp": {
            "messages": [
                {
                    "callback_type": "icm",
                    "sid": uuid.uuid4().hex,
                    "from": record["to"],
                    "to": record["from"],
                    "profile_name": "",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "context": {"id": record["sid"]},
                    "content": {
                        "type": "button",
                        "button": {"payload": payload, "text": "Acknowledge"},
                    },
                }
            ]
        }
    }


def admin_handlers(wa: WhatsAppBook, body: bytes) -> dict[str, Callable[[], Any]]:
    """The admin calls on the simulator's book ``wa``, for :func:`.admin.serve_admin`."""

    def templates() -> Any:
        data = json_object(body)
        approved = data.get("approved")
        if approved is not None and not (
            isinstance(approved, list) and all(isinstance(n, str) for n in approved)
        ):
            raise AdminError(400, "approved must be a list of template names, or null")
        with wa.lock:
            wa.approved = None if approved is None else set(approved)
        return {"approved": approved}

    def reply() -> Any:
        data = json_object(body)
        with wa.lock:
            record = wa.messages.get(str(data.get("id", "")))
        if record is None:
            raise AdminError(404, "no WhatsApp message has that id")
        url = data.get("url") or record.get("status_callback")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AdminError(400, "give url (the message had no status_callback)")
        content = to_json(reply_body(record, str(data.get("payload") or "notifykit-ack")))
        request = urllib.request.Request(
            url, data=content, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return {"status": response.status}
        except urllib.error.HTTPError as err:
            return {"status": err.code}
        except OSError as err:
            raise AdminError(502, f"the webhook did not answer: {type(err).__name__}") from None

    def messages() -> Any:
        with wa.lock:
            return {"messages": dict(wa.messages)}

    return {
        "GET /_sim/whatsapp": messages,
        "POST /_sim/whatsapp/templates": templates,
        "POST /_sim/whatsapp/reply": reply,
    }
