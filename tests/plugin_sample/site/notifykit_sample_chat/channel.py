"""The chat channel: a rendered message in, one webhook POST per recipient out, every outcome a
delivery result (a refused connection is transient, a timeout may have posted: unknown)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence

from notifykit.channels import ChannelContext, DeliveryResult, Message, Recipient
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
                answer.read()
        except urllib.error.HTTPError as err:
            return DeliveryResult.failed(recipient, f"the webhook answered {err.code}")
        except TimeoutError:
            return DeliveryResult.unknown(recipient, "the webhook did not answer in time")
        except urllib.error.URLError as err:
            if isinstance(err.reason, ConnectionRefusedError):
                return DeliveryResult.failed(recipient, "the webhook refused", transient=True)
            return DeliveryResult.unknown(recipient, f"the webhook failed: {err.reason}")
        return DeliveryResult.sent(recipient, provider_status="posted")
