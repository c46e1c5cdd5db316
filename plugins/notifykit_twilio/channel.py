"""The ``twilio-sms`` and ``twilio-call`` channels: one request per recipient through the
``twilio`` package (:mod:`notifykit_twilio.client`), each answer mapped to a delivery state by
the rule that never pages a person twice:

=========================================  =================================================
What happened                              Delivery
=========================================  =================================================
2xx with a Message/Call SID                ``sent`` (provider id: the SID)
credentials, a trial account and an        ``failed``, naming the fix (``info.cause``:
unverified number, funds, ``from``         ``account``)
an invalid number (21211, 21614...)        ``failed`` (``cause``: ``recipient``)
429                                        ``failed``, transient: retried later
refused, DNS, connect timeout              ``failed``, transient: certainly not sent
                                           (``cause``: ``connection``)
timeout or dropped connection after the    ``unknown``: it may have been sent; never sent
request, a 5xx, an unreadable answer       again
=========================================  =================================================

A call speaks the rendered ``<template>.voice`` text. With ``server.public_url`` (the message
has a status callback URL), the call's TwiML is fetched from ``notifykit serve``
(:mod:`notifykit_twilio.voice`): the text, then a ``<Gather>`` for the key that acknowledges,
escalates or resolves. Without it, the call carries its TwiML inline (``<Say>`` only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from notifykit.channels import (
    ChannelContext,
    DeliveryResult,
    Message,
    Recipient,
    StatusUpdate,
    request_starting,
    send_stopped,
)
from notifykit.errors import TemplateRenderError
from notifykit.text.sms import analyze_sms, template_label
from notifykit_twilio.settings import AccountSettings, CallSettings, SmsSettings
from notifykit_twilio.tokens import call_token, public_base

if TYPE_CHECKING:
    from notifykit_twilio.client import TwilioClient, TwilioError

__all__ = ["MAX_INLINE_TWIML", "MAX_SMS_BODY", "TwilioCallChannel", "TwilioSmsChannel", "say_twiml"]

#: Twilio's limit on the ``Twiml`` parameter of a call (characters)
MAX_INLINE_TWIML = 4000
#: Twilio's limit on a message's ``Body`` (characters; error 21617 beyond)
MAX_SMS_BODY = 1600


def say_twiml(text: str, *, voice: str, language: str, repeat: int) -> str:
    """A ``<Response>`` that says ``text`` ``repeat`` times, then hangs up."""
    say = f"<Say voice={quoteattr(voice)} language={quoteattr(language)}>{escape(text)}</Say>"
    pause = '<Pause length="1"/>'
    return f"<Response>{pause.join([say] * repeat)}</Response>"


def _account(context: ChannelContext, name: str) -> AccountSettings:
    account = context.account_settings(name)
    if not isinstance(account, AccountSettings):  # pragma: no cover - the ref is checked
        raise ValueError(f"account {name!r} is not a Twilio account")
    return account


class _TwilioChannel:
    name: str
    account: str
    client: TwilioClient

    def parse_status(self, body: bytes, content_type: str) -> list[StatusUpdate]:
        """A Twilio status callback (message or call) as a status update, by SID."""
        from notifykit_twilio.callbacks import parse_status_callback

        return parse_status_callback(body, content_type)

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        stopped = send_stopped()  # Ctrl-C, SIGTERM: no new request starts
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        results: list[DeliveryResult] = []
        for index, recipient in enumerate(recipients):
            reason = request_starting([recipient.phone or ""])
            if reason is not None:
                results += [DeliveryResult.not_started(r, reason) for r in recipients[index:]]
                break
            if not recipient.phone:
                results.append(DeliveryResult.failed(recipient, "not sent: no phone number"))
                continue
            results.append(self._send_one(message, recipient))
        return results

    def _send_one(self, message: Message, recipient: Recipient) -> DeliveryResult:
        from notifykit_twilio.client import TwilioError

        try:
            accepted = self._request(message, recipient)
        except TwilioError as err:
            return _result(recipient, err)
        return DeliveryResult.sent(
            recipient, provider_id=accepted.sid, provider_status=accepted.status
        )

    def _request(self, message: Message, recipient: Recipient) -> Any:  # pragma: no cover
        raise NotImplementedError


class TwilioSmsChannel(_TwilioChannel):
    """The ``twilio-sms`` channel."""

    def __init__(self, settings: SmsSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        account = _account(context, self.account)
        self.from_number = account.from_number
        self.messaging_service_sid = account.messaging_service_sid
        self.client = context.client(self.account)

    def __repr__(self) -> str:
        return f"TwilioSmsChannel({self.name!r}, account={self.account!r})"

    def prepare(self, message: Message) -> Message:
        text = message.text
        if text is None or not text.strip():
            what = template_label(message.template) if message.template else "the body"
            raise TemplateRenderError(
                f"{what} rendered an empty SMS body", template=message.template
            )
        if len(text) > MAX_SMS_BODY:
            what = template_label(message.template) if message.template else "the body"
            raise TemplateRenderError(
                f"{what} rendered {len(text)} characters: Twilio refuses an SMS body longer than "
                f"{MAX_SMS_BODY} (error 21617)",
                template=message.template,
            )
        sms = analyze_sms(text)
        return message.with_info(
            encoding=sms.encoding, length=sms.length, segments=sms.segments, chars=sms.chars
        )

    def describe(self, message: Message) -> Mapping[str, Any]:
        if self.messaging_service_sid:
            return {"messaging_service_sid": self.messaging_service_sid}
        return {"from": self.from_number}

    def _request(self, message: Message, recipient: Recipient) -> Any:
        return self.client.send_sms(
            to=recipient.phone or "",
            body=message.text or "",
            from_number=self.from_number,
            messaging_service_sid=self.messaging_service_sid,
            status_callback=message.status_callback,
        )


class TwilioCallChannel(_TwilioChannel):
    """The ``twilio-call`` channel."""

    def __init__(self, settings: CallSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        self.settings = settings
        account = _account(context, self.account)
        if not account.from_number or not account.from_number.startswith("+"):
            raise ValueError(
                f"channel {self.name!r} calls from account {self.account!r}, which has no "
                "`from` number: a call needs a number of the account (E.164)"
            )
        self.from_number = account.from_number
        self.client = context.client(self.account)

    def __repr__(self) -> str:
        return f"TwilioCallChannel({self.name!r}, account={self.account!r})"

    def prepare(self, message: Message) -> Message:
        text = message.text
        what = template_label(message.template) if message.template else "the body"
        if text is None or not text.strip():
            raise TemplateRenderError(
                f"{what} rendered an empty call text", template=message.template
            )
        if len(self._inline(text)) > MAX_INLINE_TWIML:
            raise TemplateRenderError(
                f"{what} is {len(text)} characters: too long to speak on a call (Twilio takes "
                f"{MAX_INLINE_TWIML} characters of TwiML)",
                template=message.template,
            )
        return message.with_info(chars=len(text))

    def describe(self, message: Message) -> Mapping[str, Any]:
        return {"from": self.from_number, "keypress": bool(public_base(message.status_callback))}

    def _inline(self, text: str) -> str:
        s = self.settings
        return say_twiml(text, voice=s.voice, language=s.language, repeat=s.repeat)

    def _request(self, message: Message, recipient: Recipient) -> Any:
        base = public_base(message.status_callback)
        token = call_token(message.status_callback, recipient.phone)
        if base is not None and token is not None:
            url = f"{base}/twilio/{self.account}/voice?t={token}"
            return self.client.place_call(
                to=recipient.phone or "",
                from_number=self.from_number,
                url=url,
                status_callback=message.status_callback,
            )
        return self.client.place_call(
            to=recipient.phone or "",
            from_number=self.from_number,
            twiml=self._inline(message.text or ""),
            status_callback=message.status_callback,
        )


def _result(recipient: Recipient, err: TwilioError) -> DeliveryResult:
    """A client error as a delivery result: ``unknown`` when it may have been sent."""
    from notifykit_twilio.client import MaybeSent

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
