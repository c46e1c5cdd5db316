"""The ``msg91-sms`` channel: a rendered SMS checked against India's DLT rules
(:mod:`notifykit.india`, the rules the Exotel plugin applies) before anything is sent, then one
request per recipient, each answer mapped to a delivery state by the rule that never pages a
person twice:

=========================================  =================================================
What happened                              Delivery
=========================================  =================================================
2xx with a request id                      ``sent`` (provider id: MSG91's request id)
authkey, IP whitelist, account refused     ``failed``, naming the fix (``info.cause``:
(401/403, codes 106, 207, 208, 418...);    ``account``)
balance (301)
the DLT template refused                   ``failed`` (``cause``: ``template``)
an invalid number (202)                    ``failed`` (``cause``: ``recipient``)
408, 429, route closed (306)               ``failed``, transient: retried later
refused, DNS, connect timeout              ``failed``, transient: certainly not sent
                                           (``cause``: ``connection``)
timeout or dropped connection after the    ``unknown``: it may have been sent; never sent
request, a 5xx, an unreadable answer       again
=========================================  =================================================

Which template a message comes from decides its DLT template id: the template's
``dlt_template_id`` (and ``dlt_pattern``, the registered text), the same ``templates:`` keys the
Exotel SMS channel reads. :meth:`Msg91SmsChannel.parse_status` reads MSG91's delivery reports
(:mod:`notifykit_msg91.callbacks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    Message,
    Recipient,
    StatusUpdate,
    request_starting,
    send_stopped,
)
from notifykit.errors import DltMismatchError, TemplateRenderError
from notifykit.india import require_dlt_match
from notifykit.text.sms import analyze_sms, template_label
from notifykit_msg91.settings import ROUTES, AccountSettings, SmsSettings

if TYPE_CHECKING:
    from notifykit_msg91.client import Msg91Client, Msg91Error

__all__ = ["Msg91SmsChannel", "dlt_settings"]


def dlt_settings(message: Message) -> tuple[str | None, str | None]:
    """The template's ``dlt_template_id`` and ``dlt_pattern`` (``None`` when not set)."""
    settings: Mapping[str, Any] = message.template_settings
    template_id = settings.get("dlt_template_id")
    pattern = settings.get("dlt_pattern")
    return (
        str(template_id) if template_id not in (None, "") else None,
        str(pattern) if pattern not in (None, "") else None,
    )


class Msg91SmsChannel:
    """The ``msg91-sms`` channel (see the module docstring)."""

    def __init__(self, settings: SmsSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        self.encoding = settings.encoding
        account = context.account_settings(self.account)
        if not isinstance(account, AccountSettings):  # pragma: no cover - the ref is checked
            raise ValueError(f"account {self.account!r} is not an MSG91 account")
        self.sender = account.sender
        self.dlt_entity_id = account.dlt_entity_id
        self.route = ROUTES[account.route]
        self.client: Msg91Client = context.client(self.account)

    def __repr__(self) -> str:
        return f"Msg91SmsChannel({self.name!r}, account={self.account!r}, sender={self.sender!r})"

    # -- the channel contract -----------------------------------------------------------------

    def prepare(self, message: Message) -> Message:
        text = message.text
        what = template_label(message.template) if message.template else "the body"
        if text is None or not text.strip():
            raise TemplateRenderError(
                f"{what} rendered an empty SMS body", template=message.template
            )
        template_id, pattern = dlt_settings(message)
        if template_id is None:
            if message.template is None:
                problem = (
                    "an SMS without a template cannot go through MSG91: operators refuse an SMS "
                    "to India without its DLT template; send it from a template with a "
                    "dlt_template_id"
                )
            else:
                name = message.template.removesuffix(".sms")
                problem = (
                    f"{what} has no dlt_template_id, which every SMS through MSG91 to India "
                    "needs (operators refuse an SMS without its DLT template): set "
                    f"templates.{name}.dlt_template_id to the id the DLT platform gave its "
                    "registered text"
                )
            raise DltMismatchError(problem, template=message.template)
        info: dict[str, Any] = dict(message.info)
        if pattern is not None:
            require_dlt_match(text, pattern, template=message.template)
            info["dlt"] = "match"
        else:
            info["dlt"] = "unchecked: no dlt_pattern"
        sms = analyze_sms(text)
        info.update(
            encoding=sms.encoding, length=sms.length, segments=sms.segments, chars=sms.chars
        )
        wanted = self.encoding
        unicode = sms.encoding == "UCS-2" if wanted == "auto" else wanted == "unicode"
        return message.with_info(**info).with_options(dlt_template_id=template_id, unicode=unicode)

    def describe(self, message: Message) -> Mapping[str, Any]:
        template_id, _pattern = dlt_settings(message)
        return {
            "from": self.sender,
            "dlt_entity_id": self.dlt_entity_id,
            "dlt_template_id": template_id,
        }

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        stopped = send_stopped()  # Ctrl-C, SIGTERM: no new request starts
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        options = message.options
        template_id = options.get("dlt_template_id") or dlt_settings(message)[0]
        if not template_id:  # prepare() refuses this; a message built by hand may not have it
            return [
                DeliveryResult.failed(r, "not sent: the message has no DLT template id")
                for r in recipients
            ]
        unicode = bool(options.get("unicode", False))
        body = message.text or ""
        results: list[DeliveryResult] = []
        for index, recipient in enumerate(recipients):
            reason = request_starting([recipient.phone or ""])
            if reason is not None:
                results += [DeliveryResult.not_started(r, reason) for r in recipients[index:]]
                break
            results.append(self._send_one(recipient, body, str(template_id), unicode))
        return results

    def parse_status(self, body: bytes, content_type: str) -> list[StatusUpdate]:
        """An MSG91 delivery report (v2 or v3 webhook) as status updates, by request id."""
        from notifykit_msg91.callbacks import parse_delivery_report

        return parse_delivery_report(body, content_type)

    # -- one request --------------------------------------------------------------------------

    def _send_one(
        self, recipient: Recipient, body: str, template_id: str, unicode: bool
    ) -> DeliveryResult:
        from notifykit_msg91.client import Msg91Error

        if not recipient.phone:
            return DeliveryResult.failed(recipient, "not sent: no phone number")
        try:
            accepted = self.client.send_sms(
                to=recipient.phone,
                message=body,
                sender=self.sender,
                route=self.route,
                dlt_template_id=template_id,
                dlt_entity_id=self.dlt_entity_id,
                unicode=unicode,
            )
        except Msg91Error as err:
            return _result(recipient, err)
        return DeliveryResult.sent(
            recipient,
            provider_id=accepted.request_id,
            provider_status=f"HTTP {accepted.http_status}",
        )


def _result(recipient: Recipient, err: Msg91Error) -> DeliveryResult:
    """A client error as a delivery result: ``unknown`` when it may have been sent."""
    from notifykit_msg91.client import MaybeSent

    info: dict[str, Any] = {"cause": err.cause}
    if err.code:
        info["provider_code"] = err.code
    if err.http_status is not None:
        info["http_status"] = err.http_status
    if isinstance(err, MaybeSent):
        return DeliveryResult.unknown(
            recipient, f"{err}: it may have been sent; not sent again", **info
        )
    text = str(err)
    if err.retry and not text.startswith("not sent"):
        text = f"not sent: {text}"
    # cause "account" (credentials, funds...): the provider refused the account, not the
    # recipient (a fallback takes over; the account's circuit breaker counts it)
    return DeliveryResult.failed(
        recipient,
        text,
        transient=err.retry,
        retry_after=err.retry_after,
        account=err.cause == "account",
        **info,
    )
