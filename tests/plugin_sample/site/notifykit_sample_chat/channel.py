"""The chat channel: a rendered message in, one webhook POST per recipient out, every outcome a
delivery result (a refused connection is transient, a timeout may have posted: unknown). It has
two of the optional capabilities: ``parse_status`` reads the chat's read receipts, POSTed to
the status server at the URL each post carries as ``callback``; ``describe`` says what
``routes test`` shows."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    DeliveryState,
    Message,
    Recipient,
    StatusUpdate,
)
from notifykit.model import severity_rank
from notifykit_sample_chat.settings import ChatSettings, ChatTemplateSettings


class ChatChannel:
    """Posts ``{"room", "to", "text", "urgent", "mention", "format"}`` as JSON."""

    def __init__(self, settings: ChatSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.settings = settings

    def prepare(self, message: Message) -> Message:
        urgent = severity_rank(message.severity) >= severity_rank(self.settings.urgent_from)
        template = message.template_settings.of(ChatTemplateSettings)
        return message.with_options(urgent=urgent, format=template.chat_format or "plain")

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        return [self._post(message, recipient) for recipient in recipients]

    def describe(self, message: Message) -> dict[str, Any]:
        urgent = severity_rank(message.severity) >= severity_rank(self.settings.urgent_from)
        return {"from": None, "priority": "urgent" if urgent else None, "room": self.settings.room}

    def parse_status(self, body: bytes, content_type: str) -> list[StatusUpdate]:
        """A read receipt: ``{"id": "<message id>", "status": "read" | "bounced" | "typing",
        "reason": ...}``; ``ValueError`` for anything else."""
        if not content_type.startswith("application/json"):
            raise ValueError(f"a read receipt is JSON, not {content_type or 'untyped'}")
        receipt = json.loads(body)  # json.JSONDecodeError is a ValueError
        if not isinstance(receipt, dict) or not isinstance(receipt.get("id"), str):
            raise ValueError("a read receipt names the message it is about as 'id'")
        status = receipt.get("status")
        states = {"read": DeliveryState.DELIVERED, "bounced": DeliveryState.FAILED, "typing": None}
        if status not in states:
            raise ValueError(f"unknown read receipt status {status!r}")
        reason = receipt.get("reason")
        return [
            StatusUpdate(
                receipt["id"],
                states[status],
                provider_status=status,
                detail=reason if isinstance(reason, str) else None,
            )
        ]

    def _post(self, message: Message, recipient: Recipient) -> DeliveryResult:
        settings = self.settings
        urgent = bool(message.options.get("urgent"))
        body = {
            "room": settings.room,
            "to": recipient.address("chat"),
            "text": message.text,
            "urgent": urgent,
            "mention": settings.mention if urgent else "nobody",
            "format": message.options.get("format", "plain"),
        }
        if message.status_callback:  # where the chat sends the read receipt
            body["callback"] = message.status_callback
        request = urllib.request.Request(
            settings.webhook,
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {settings.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout) as answer:
                answered = answer.read()
        except urllib.error.HTTPError as err:
            return DeliveryResult.failed(recipient, f"the webhook answered {err.code}")
        except TimeoutError:
            return DeliveryResult.unknown(recipient, "the webhook did not answer in time")
        except urllib.error.URLError as err:
            if isinstance(err.reason, ConnectionRefusedError):
                return DeliveryResult.failed(recipient, "the webhook refused", transient=True)
            return DeliveryResult.unknown(recipient, f"the webhook failed: {err.reason}")
        try:  # the chat's id for the message, which its read receipt names
            posted = json.loads(answered) if answered else {}
        except ValueError:
            posted = {}
        message_id = posted.get("id") if isinstance(posted, dict) else None
        return DeliveryResult.sent(
            recipient,
            provider_id=message_id if isinstance(message_id, str) else None,
            provider_status="posted",
        )
