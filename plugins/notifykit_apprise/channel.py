"""The ``apprise`` channel: a rendered message in, one Apprise notification per recipient's
target out, each outcome a delivery result.

A recipient's target is the name in its ``addresses: {apprise: NAME}``; the account's
``targets.NAME.urls`` are where it goes. What became of the URLs decides the delivery (see
:class:`~notifykit_apprise.client.TargetOutcome`): ``sent`` when a service accepted it,
``unknown`` when one may have (Apprise cannot always tell: a timeout, a 5xx, a failure it does
not explain), ``failed`` only when none can have received it.

A ``failed`` result never has ``account=True`` (the mark of a refusal that lies with the provider
account, which hands the message to a channel's ``fallback``): Apprise reports a service's HTTP
status at most, and a service's 401/403 is as often about the person as about the credentials
(Telegram answers 403 to a bot the person blocked; each target's URL carries its own token), so
nothing tells the account from the recipient. A failure that is transient (a refused connection,
429) still falls over once its retries end.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    Message,
    Recipient,
    request_starting,
    send_stopped,
)
from notifykit.errors import TemplateError
from notifykit_apprise.client import AppriseClient, TargetOutcome, UnknownTargetError
from notifykit_apprise.settings import AppriseChannelSettings

__all__ = ["ADDRESS", "NOTIFY_TYPE_BY_SEVERITY", "AppriseChannel"]

#: the recipient address kind the channel uses: ``addresses: {apprise: TARGET}``
ADDRESS = "apprise"

#: Apprise's notification type (its icon and colour in most services) by severity
NOTIFY_TYPE_BY_SEVERITY: Mapping[str, str] = {
    "info": "info",
    "warning": "warning",
    "error": "failure",
    "critical": "failure",
}

logger = logging.getLogger(__name__)


class AppriseChannel:
    """Notifies each recipient's target through the account's :class:`AppriseClient`."""

    def __init__(self, settings: AppriseChannelSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        self.title = settings.title
        self.client: AppriseClient = context.client(settings.account)

    def __repr__(self) -> str:
        return f"<AppriseChannel {self.name!r} account={self.account!r}>"

    def _title(self, message: Message) -> str:
        return self.title.format(event=message.event, severity=message.severity)

    def prepare(self, message: Message) -> Message:
        if not (message.text or "").strip():
            raise TemplateError(
                f"channel {self.name!r} (apprise) has nothing to send: the text is empty"
            )
        return message.with_options(
            title=self._title(message),
            notify_type=NOTIFY_TYPE_BY_SEVERITY.get(message.severity, "info"),
        )

    def describe(self, message: Message) -> Mapping[str, Any]:
        return {
            "title": self._title(message),
            "type": NOTIFY_TYPE_BY_SEVERITY.get(message.severity, "info"),
        }

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        results: list[DeliveryResult] = []
        reason = send_stopped()
        title = str(message.options.get("title", self._title(message)))
        notify_type = str(message.options.get("notify_type", "info"))
        for position, recipient in enumerate(recipients):
            target = recipient.address(ADDRESS) or ""
            if reason is None:
                reason = request_starting([target])
            if reason is not None:
                results.extend(DeliveryResult.not_started(r, reason) for r in recipients[position:])
                break
            try:
                outcome = self.client.notify(
                    target, message.text or "", title=title, notify_type=notify_type
                )
            except UnknownTargetError as err:
                results.append(DeliveryResult.failed(recipient, f"{err} (not sent)"))
                continue
            results.append(self._result(recipient, outcome))
        return results

    def _result(self, recipient: Recipient, outcome: TargetOutcome) -> DeliveryResult:
        services = ", ".join(outcome.services)
        for url in outcome.urls:
            logger.debug(
                "channel %s, target %s, %s: %s (%.0f ms)",
                self.name,
                outcome.target,
                url.label,
                url.reason if url.state != "sent" else "sent",
                url.elapsed * 1000,
            )
        if outcome.state == "sent":
            if outcome.problems:
                logger.warning(
                    "channel %s, target %s: sent, but %s",
                    self.name,
                    outcome.target,
                    outcome.error,
                )
                return DeliveryResult.sent(
                    recipient,
                    provider_status="accepted in part",
                    services=services,
                    not_sent=outcome.error,
                )
            return DeliveryResult.sent(recipient, provider_status="accepted", services=services)
        if outcome.state == "unknown":
            return DeliveryResult.unknown(recipient, outcome.error, services=services)
        # never account=True: Apprise cannot tell the account from the recipient (see above)
        return DeliveryResult.failed(
            recipient, outcome.error, transient=outcome.transient, services=services
        )
