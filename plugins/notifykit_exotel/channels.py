"""The Exotel channel adapters: rendered notifications in, ``ExotelClient`` calls out, and every
client error turned into a per-recipient delivery result.

- :class:`SmsChannel` (``exotel-sms``): one body to every recipient; a single recipient goes
  through ``send_sms``, more through ``send_bulk_sms`` (100 numbers per request). The sender and
  Exotel's ``Priority`` are chosen by severity; ``DltEntityId`` comes from the channel,
  ``DltTemplateId`` and ``SmsType`` from the template's config.
- :class:`CallChannel` (``exotel-call``): rings each recipient, then connects them to a configured
  number (a bridge, the incident commander) with ``call_number``.
- :class:`FlowChannel` (``exotel-flow``): rings each recipient into an Exotel flow (an IVR app) with
  ``call_flow``, passing the rendered voice text as the call's ``CustomField``.

This module imports the client lazily (only :func:`connect` and the channel classes at send time
need it), so that loading the plugin costs nothing.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from notifykit.channels import (
    AccountContext,
    ChannelContext,
    DeliveryResult,
    DeliveryState,
    Message,
    Recipient,
    StatusUpdate,
    TemplateSettings,
    TextInspection,
    request_starting,
    send_stopped,
)
from notifykit.errors import ProviderError, TemplateRenderError
from notifykit.india import DltTemplateSettings, require_dlt_match
from notifykit.text.sms import analyze_sms, check_length
from notifykit_exotel.settings import (
    AccountSettings,
    CallSettings,
    FlowSettings,
    Sender,
    SmsSettings,
    SmsTemplateSettings,
)

if TYPE_CHECKING:
    from notifykit_exotel.client import ExotelClient
    from notifykit_exotel.errors import ExotelError
    from notifykit_exotel.models import BulkSmsResult

__all__ = [
    "MAX_BODY_CHARS",
    "CallChannel",
    "FlowChannel",
    "SmsChannel",
    "connect",
    "inspect_sms",
    "lookup",
]

MAX_BODY_CHARS = 2000
"""Exotel's limit on an SMS ``Body``, in characters."""

SEND_THREADS = 8
"""How many requests an SMS channel without bulk (one request per recipient) keeps in flight at
once, across all its ``send()`` calls (notify()'s groups, a worker's threads). The account's rate
limiter bounds them as it bounds any request; the threads only overlap the waits for Exotel's
answers, so a window of the limit goes out at once instead of one request after the other. Two
such channels on one account stay within its client's 16 pooled connections."""


def inspect_sms(text: str, template_settings: TemplateSettings) -> TextInspection:
    """What ``exotel-sms`` would say of a rendered body (``notifykit templates render``): its
    encoding, length and segments, Exotel's length limit, and the template's DLT pattern."""
    from notifykit.india import check_dlt

    info = analyze_sms(text)
    too_long = info.chars > MAX_BODY_CHARS
    segments = info.segments
    lines = [
        f"encoding: {info.encoding}, {info.chars} chars, length {info.length}, "
        f"{segments} segment{'s' if segments != 1 else ''}"
        + (f"  OVER {MAX_BODY_CHARS} CHARACTERS" if too_long else "")
    ]
    result: dict[str, Any] = {
        "encoding": info.encoding,
        "length": info.length,
        "chars": info.chars,
        "segments": segments,
        "too_long": too_long,
        "dlt": None,
    }
    ok = not too_long
    settings = template_settings.of(DltTemplateSettings)
    pattern = settings.dlt_pattern
    if pattern:
        check = check_dlt(text, pattern)
        result["dlt"] = {
            "pattern": pattern,
            "ok": check.ok,
            "problem": check.problem,
            "variables": list(check.variables),
            "template_id": settings.dlt_template_id,
        }
        if check.ok:
            lines.append("DLT: match (" + ", ".join(repr(v) for v in check.variables) + ")")
        else:
            lines.append(f"DLT: MISMATCH: {check.problem}")
            ok = False
    else:
        lines.append("DLT: no dlt_pattern configured for this template")
    return TextInspection(ok, result, tuple(lines))


def connect(settings: AccountSettings, context: AccountContext) -> ExotelClient:
    """The account's client: one per account and Notifier, pooled, shared by its channels."""
    from notifykit_exotel.client import ExotelClient
    from notifykit_exotel.retry import Limiter, RateLimiter, RetryPolicy, SharedLimiter

    limit, window = settings.rate_limit, float(settings.rate_window)
    rate_limit: Limiter | int = limit
    shared = context.rate_limiter
    if shared is not None:
        # notifykit's limiter: one budget per account for every process and host, keyed by the
        # SID (the account as Exotel counts it), not by this config's name for it.
        # The client's own limiter, with the same budget, grants while the store is away.
        rate_limit = SharedLimiter(
            shared(str(settings.sid).strip(), limit, window, local=RateLimiter(limit, window))
        )
    options: dict[str, Any] = {}
    if settings.timeout:
        options["timeout"] = float(settings.timeout)
    return ExotelClient(
        settings.sid,
        settings.token,
        api_key=settings.api_key,
        region=settings.region,
        base_url=settings.base_url,
        rate_limit=rate_limit,
        rate_window=window,
        array_style=settings.array_style,
        retry=RetryPolicy(max_retries=settings.retries),
        before_request=_unless_stopped,
        **options,
    )


def _unless_stopped(numbers: Sequence[str]) -> None:
    """The client's ``before_request``: once notifykit stops the send this thread runs
    (Ctrl-C, SIGTERM, ``Worker.stop()``), no new request starts (the channel reports each
    recipient left with ``DeliveryResult.not_started``: see :func:`_failure`); until then each
    request tells notifykit which numbers it pages, in case the send is abandoned in flight.
    In one of a send's threads (:func:`_in_threads`), no request starts either once the
    ``send()`` that started the thread has given up on them."""
    batch = _BATCH.get()
    if batch is None:
        reason = request_starting(numbers)
    else:
        with batch.lock:  # a request is either refused or counted as started, never both
            reason = batch.reason or request_starting(numbers)
    if reason is not None:
        from notifykit_exotel.errors import SendStoppedError

        raise SendStoppedError(f"not sent: stopped ({reason}) before the request went out")


class _Batch:
    """The requests of one ``send()`` made by several threads. Once ``reason`` is set (under
    ``lock``, which :func:`_unless_stopped` holds from its check to notifykit counting the
    request started), none of them starts: the ``send()`` has raised, and what notifykit was
    told had started is all that may have gone out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reason: str | None = None

    def refuse(self, reason: str) -> None:
        with self.lock:
            self.reason = self.reason or reason


_BATCH: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "notifykit_exotel_batch", default=None
)


def _in_threads(
    send: Callable[[Recipient], DeliveryResult],
    recipients: Sequence[Recipient],
    slots: threading.Semaphore,
    threads: int = SEND_THREADS,
) -> list[DeliveryResult]:
    """``send`` to each recipient, from up to ``threads`` threads at once, each call holding
    one of ``slots`` (the channel's: its sends in flight at once, from every group and worker
    thread, stay within the client's connection pool); the results in the recipients' order.
    Each thread runs in a copy of the caller's context (notifykit's stop and the record of what
    started are context variables), takes the next recipient not yet taken, and is a daemon: a
    send given up on is never a reason to wait at exit.

    If the waiting thread is interrupted (Ctrl-C), or ``send`` raises (a bug: an
    :class:`ExotelError` is a result, not an exception), no further request starts (see
    :class:`_Batch`) and this raises at once: the requests in flight finish on their own, their
    answers unused, as a request interrupted in a send of one thread would have been."""
    batch = _Batch()
    results: list[DeliveryResult | None] = [None] * len(recipients)
    taking = threading.Lock()
    left = iter(range(len(recipients)))
    running = [min(threads, len(recipients))]
    failures: list[BaseException] = []
    finished = threading.Event()

    def work() -> None:
        _BATCH.set(batch)  # in this thread's own copy of the context
        try:
            while batch.reason is None:
                with taking:
                    index = next(left, None)
                if index is None:
                    break
                with slots:
                    if batch.reason is not None:  # given up on while this waited for a slot
                        break
                    results[index] = send(recipients[index])
        except BaseException as err:  # handed to the waiting thread
            failures.append(err)
            batch.refuse(type(err).__name__)
            finished.set()
        finally:
            with taking:
                running[0] -= 1
                if not running[0]:
                    finished.set()

    try:
        for _ in range(running[0]):
            context = contextvars.copy_context()  # one each: a context runs in one thread at once
            threading.Thread(
                target=context.run, args=(work,), name="notifykit-sms", daemon=True
            ).start()
        finished.wait()
    except BaseException as err:  # an interrupt, or no thread to be had
        batch.refuse(type(err).__name__)
        raise
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def _failure(recipient: Recipient, err: BaseException) -> DeliveryResult:
    """A client error as a delivery result: ``unknown`` when the request may have gone through,
    a transient failure when it certainly did not and may succeed later, else permanent
    (``account=True`` when Exotel refused the account, not the recipient:
    :attr:`~notifykit_exotel.errors.ExotelError.account_refused`); a failure of the sender's
    own rate limiter is ours, not the recipient's; a request refused because notifykit stopped
    the send is not started."""
    from notifykit_exotel.errors import ExotelError, LimiterUnavailableError, SendStoppedError

    reason = send_stopped()
    if isinstance(err, SendStoppedError) and reason is not None:
        return DeliveryResult.not_started(recipient, reason)
    if isinstance(err, LimiterUnavailableError):
        return DeliveryResult.infrastructure_failure(recipient, str(err), part="rate limiter")
    if isinstance(err, ExotelError):
        text, kind, account = str(err), err.failure_class, err.account_refused
    else:
        text, kind, account = f"{type(err).__name__}: {err}", "ambiguous", False
    if kind == "ambiguous":
        return DeliveryResult.unknown(recipient, text)
    return DeliveryResult.failed(
        recipient,
        text,
        transient=kind == "transient",
        retry_after=getattr(err, "retry_after", None),
        account=account,
    )


@functools.lru_cache(maxsize=1024)
def _text_facts(text: str, template: str | None, pattern: str | None) -> Mapping[str, Any]:
    """What :meth:`SmsChannel.prepare` checks and finds out about a body: its length against
    Exotel's limit, its encoding and segments, its DLT pattern. Remembered for the last bodies
    seen (a monitor sends the same alert again and again): the answer depends only on the text,
    the template's name (in error messages) and the pattern; a refusal raises every time (an
    exception is not cached). The mapping returned is shared: copy it, never change it."""
    check_length(text, limit=MAX_BODY_CHARS, template=template)
    info = analyze_sms(text)
    facts: dict[str, Any] = {
        "encoding": info.encoding,
        "length": info.length,
        "segments": info.segments,
        "chars": info.chars,
    }
    if pattern:
        require_dlt_match(text, pattern, template=template)
        facts["dlt"] = "match"
    return MappingProxyType(facts)


#: Exotel's SMS Status -> the delivery state it proves (``sent`` is Exotel's word for delivered)
_SMS_STATES = {
    "sent": DeliveryState.DELIVERED,
    "failed": DeliveryState.FAILED,
    "failed_dnd": DeliveryState.FAILED,
}
#: Exotel's call Status -> the delivery state it proves
_CALL_STATES = {
    "completed": DeliveryState.DELIVERED,
    "busy": DeliveryState.FAILED,
    "no-answer": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,
}


def _sms_update(sid: str, status: Any, detail: str | None) -> StatusUpdate:
    text = _status(status)
    return StatusUpdate(
        provider_id=sid,
        state=_SMS_STATES.get(text or ""),
        provider_status=text,
        detail=detail,
    )


def _call_update(sid: str, status: Any, answered: bool) -> StatusUpdate:
    text = _status(status)
    return StatusUpdate(
        provider_id=sid,
        state=_CALL_STATES.get(text or ""),
        provider_status=text,
        detail=None if text == "completed" else text,
        info={"answered": answered},
    )


def _status(value: Any) -> str | None:
    return None if value is None else str(value)


_NOT_DIGIT = re.compile(r"\D")


def _tail(number: str | None) -> str:
    """The last 10 digits of a number (fewer if it has fewer), as :func:`same_number` compares
    them."""
    if not number:
        return ""
    # The usual forms, +919876543210 and 09876543210, without a regular expression
    if number.isascii():
        if number.isdigit():
            return number[-10:]
        if number[0] == "+" and number[1:].isdigit():
            return number[-10:]
    return _NOT_DIGIT.sub("", number)[-10:]


class SmsChannel:
    """The ``exotel-sms`` channel."""

    def __init__(self, settings: SmsSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        self.senders = settings.senders
        self.dlt_entity_id = settings.dlt_entity_id
        self.sms_type = settings.sms_type
        self.status_callback = settings.status_callback
        self.encoding = settings.encoding
        self.bulk = settings.bulk
        self.client: ExotelClient = context.client(self.account)
        #: this channel's requests in flight at once without bulk (see SEND_THREADS)
        self._in_flight = threading.BoundedSemaphore(SEND_THREADS)

    def prepare(self, message: Message) -> Message:
        text = message.text
        if text is None or not text.strip():
            raise TemplateRenderError(
                f"{'template ' + repr(message.template) if message.template else 'the body'} "
                "rendered an empty SMS body",
                template=message.template,
            )
        template = message.template_settings.of(DltTemplateSettings)
        facts = _text_facts(text, message.template, template.dlt_pattern)
        info = {**message.info, **facts}
        # One copy of the message, not one per change (a frozen dataclass: replace() is costly)
        return dataclasses.replace(
            message, info=info, options={**message.options, **self._options(message, info)}
        )

    def options(self, message: Message) -> dict[str, Any]:
        """The ``send_sms``/``send_bulk_sms`` keyword arguments chosen for a message: the sender
        and priority by severity, the DLT ids, the SMS type and encoding. Computed once, when the
        notification is planned."""
        return self._options(message, message.info)

    def _options(self, message: Message, info: Mapping[str, Any]) -> dict[str, Any]:
        sender: Sender = self.senders.pick(message.severity)
        dlt = message.template_settings.of(DltTemplateSettings)
        template = message.template_settings.of(SmsTemplateSettings)
        if self.encoding == "auto":
            encoding_type = "unicode" if info.get("encoding") == "UCS-2" else None
        else:
            encoding_type = self.encoding
        return {
            "from_": sender.from_,
            "priority": sender.priority,
            "dlt_entity_id": self.dlt_entity_id,
            "dlt_template_id": dlt.dlt_template_id,
            "sms_type": template.sms_type or self.sms_type,
            "encoding_type": encoding_type,
            "status_callback": self.status_callback,
        }

    def describe(self, message: Message) -> dict[str, Any]:
        """For ``routes test``: the sender (ExoPhone or DLT header) and priority its severity
        picks."""
        sender: Sender = self.senders.pick(message.severity)
        return {"from": sender.from_, "priority": sender.priority}

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        from notifykit_exotel.errors import ExotelError, PartialSendError

        stopped = send_stopped()  # Ctrl-C, SIGTERM: nothing more starts (see _unless_stopped)
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        body = message.text or ""
        options = dict(message.options) or self.options(message)
        if message.status_callback:
            options["status_callback"] = message.status_callback
        if len(recipients) == 1 or not self.bulk:

            def send_one(recipient: Recipient) -> DeliveryResult:
                try:
                    # e164: the planner validated every number once; the client checks the shape
                    sms = self.client.send_sms(to=recipient.phone, body=body, e164=True, **options)
                except ExotelError as err:
                    return _failure(recipient, err)
                return DeliveryResult.sent(
                    recipient, provider_id=sms.sid, provider_status=_status(sms.status)
                )

            if len(recipients) == 1:
                return [send_one(recipients[0])]
            return _in_threads(send_one, recipients, self._in_flight)
        numbers = [r.phone or "" for r in recipients]
        try:
            result = self.client.send_bulk_sms(to=numbers, body=body, e164=True, **options)
        except PartialSendError as err:
            cause = err.__cause__ if isinstance(err.__cause__, ExotelError) else err
            return self._bulk_results(recipients, err.result, unsent=err.unsent, cause=cause)
        except ExotelError as err:
            return [_failure(r, err) for r in recipients]
        return self._bulk_results(recipients, result)

    def parse_status(self, body: bytes, content_type: str) -> list[StatusUpdate]:
        """An Exotel SMS status callback as a status update."""
        from notifykit_exotel.callbacks import parse_sms_callback
        from notifykit_exotel.errors import ExotelError

        try:
            callback = parse_sms_callback(body, content_type)
        except ExotelError as err:
            raise ValueError(str(err)) from None
        return [_sms_update(callback.sms_sid, callback.status, callback.detailed_status)]

    def lookup_status(self, provider_id: str) -> StatusUpdate | None:
        """Where an SMS stands, from ``SMS/Messages/<sid>``."""
        sms = self.client.sms_details(provider_id)
        return _sms_update(sms.sid or provider_id, sms.status, sms.detailed_status)

    @staticmethod
    def _bulk_results(
        recipients: Sequence[Recipient],
        result: BulkSmsResult,
        *,
        unsent: Sequence[str] = (),
        cause: ExotelError | None = None,
    ) -> list[DeliveryResult]:
        """Match a bulk result back to recipients: refusals and unsent numbers by number, accepted
        messages by the number Exotel echoes (compared on the last 10 digits), else in order.

        Linear: each recipient's last 10 digits are put in a dict once (numbers with fewer
        digits never match, as in :func:`~notifykit_exotel.wire.same_number`), and a number
        matches the first recipient with those digits that has no result yet."""
        count = len(recipients)
        outcome: list[DeliveryResult | None] = [None] * count
        # tail -> the first position with it; the further ones (a number given twice, rare)
        # apart, so that a broadcast makes no list per recipient
        first: dict[str, int] = {}
        further: dict[str, list[int]] = {}
        for position, recipient in enumerate(recipients):
            phone = recipient.phone
            # the planner's E.164 numbers (+91 and 10 digits) without a call each
            if phone and phone[0] == "+" and phone.isascii() and phone[1:].isdigit():
                tail = phone[-10:]
            else:
                tail = _tail(phone)
            if len(tail) == 10:
                if tail in first:
                    further.setdefault(tail, []).append(position)
                else:
                    first[tail] = position

        def index_of(number: str | None) -> int | None:
            tail = _tail(number)
            candidate = first.get(tail)
            if candidate is None:
                return None
            if outcome[candidate] is None:
                return candidate
            for candidate in further.get(tail, ()):
                if outcome[candidate] is None:
                    return candidate
            return None

        for item in result.errors:
            i = index_of(item.to)
            if i is not None:
                outcome[i] = _failure(recipients[i], item.error)
        if cause is not None:
            for number in unsent:
                i = index_of(number)
                if i is not None:
                    outcome[i] = _failure(recipients[i], cause)
        accepted = DeliveryResult.sent
        unmatched: list[Any] = []
        for sms in result.messages:
            i = index_of(sms.to)
            if i is None:
                unmatched.append(sms)
                continue
            status = sms.status
            outcome[i] = accepted(
                recipients[i],
                provider_id=sms.sid,
                provider_status=None if status is None else str(status),
            )
        if unmatched:
            # Exotel's bulk response format is UNCONFIRMED: messages without a recognisable
            # number take the remaining recipients in request order.
            remaining = [i for i in range(count) if outcome[i] is None]
            for i, sms in zip(remaining, unmatched, strict=False):
                outcome[i] = DeliveryResult.sent(
                    recipients[i], provider_id=sms.sid, provider_status=_status(sms.status)
                )
        return [
            found
            or DeliveryResult.unknown(
                recipients[i], "Exotel's bulk response did not account for this number"
            )
            for i, found in enumerate(outcome)
        ]


class _CallBase:
    def __init__(self, settings: CallSettings | FlowSettings, context: ChannelContext) -> None:
        self.name = context.channel_name
        self.account = settings.account
        self.caller_ids = settings.caller_id
        self.time_limit = settings.time_limit
        self.time_out = settings.time_out
        self.record = settings.record
        self.status_callback = settings.status_callback
        self.client: ExotelClient = context.client(self.account)

    def prepare(self, message: Message) -> Message:
        return message

    def describe(self, message: Message) -> dict[str, Any]:
        """For ``routes test``: the caller id (ExoPhone) its severity picks; calls have no
        priority."""
        return {"from": self.caller_ids.pick(message.severity), "priority": None}

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        from notifykit_exotel.errors import ExotelError

        stopped = send_stopped()  # Ctrl-C, SIGTERM: nothing more starts (see _unless_stopped)
        if stopped is not None:
            return [DeliveryResult.not_started(r, stopped) for r in recipients]
        results = []
        caller_id: str = self.caller_ids.pick(message.severity)
        callback = message.status_callback or self.status_callback
        for recipient in recipients:
            try:
                call = self._call(message, recipient, caller_id, callback)
            except ExotelError as err:
                results.append(_failure(recipient, err))
            else:
                results.append(
                    DeliveryResult.sent(
                        recipient, provider_id=call.sid, provider_status=_status(call.status)
                    )
                )
        return results

    def _call(
        self, message: Message, recipient: Recipient, caller_id: str, callback: str | None
    ) -> Any:
        raise NotImplementedError

    def parse_status(self, body: bytes, content_type: str) -> list[StatusUpdate]:
        """An Exotel call status callback as a status update (only the terminal event moves the
        delivery; ``answered`` is kept in ``info``)."""
        from notifykit_exotel.callbacks import parse_call_callback
        from notifykit_exotel.errors import ExotelError

        try:
            callback = parse_call_callback(body, content_type)
        except ExotelError as err:
            raise ValueError(str(err)) from None
        update = _call_update(callback.call_sid, callback.status, callback.answered)
        if callback.event_type not in (None, "terminal"):
            update = StatusUpdate(
                provider_id=update.provider_id,
                state=None,
                provider_status=update.provider_status,
                info=update.info,
            )
        return [update]

    def lookup_status(self, provider_id: str) -> StatusUpdate | None:
        """Where a call stands, from ``Calls/<sid>``."""
        call = self.client.call_details(provider_id)
        status = _status(call.status)
        return _call_update(call.sid or provider_id, call.status, status == "completed")


class CallChannel(_CallBase):
    """The ``exotel-call`` channel: ring the recipient, then connect them to ``connect_to``."""

    def __init__(self, settings: CallSettings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.connect_to = settings.connect_to
        self.wait_url = settings.wait_url

    def _call(
        self, message: Message, recipient: Recipient, caller_id: str, callback: str | None
    ) -> Any:
        return self.client.call_number(
            from_=recipient.phone,
            to=self.connect_to.pick(message.severity),
            caller_id=caller_id,
            time_limit=self.time_limit,
            time_out=self.time_out,
            record=self.record,
            wait_url=self.wait_url,
            status_callback=callback,
        )


class FlowChannel(_CallBase):
    """The ``exotel-flow`` channel: ring the recipient into a flow. ``CustomField`` carries the
    voice text, or, with ``server.public_url`` set, an opaque per-call token by which the
    status server serves the text and takes the keys pressed (:mod:`notifykit_exotel.flows`)."""

    def __init__(self, settings: FlowSettings, context: ChannelContext) -> None:
        super().__init__(settings, context)
        self.app_id = settings.app_id
        self.url = settings.url
        if (self.app_id is None) == (self.url is None):
            raise ValueError("give exactly one of app_id (the flow id) or url (a full flow URL)")

    def prepare(self, message: Message) -> Message:
        if message.text is not None and not message.text.strip():
            raise TemplateRenderError(
                f"template {message.template!r} rendered empty voice text",
                template=message.template,
            )
        if message.text is None:
            return message
        return message.with_info(chars=len(message.text))

    def _call(
        self, message: Message, recipient: Recipient, caller_id: str, callback: str | None
    ) -> Any:
        from notifykit_exotel.flows import call_token

        # With server.public_url, the flow reads the text from notifykit by this opaque
        # per-call token (notifykit_exotel.flows); without it, the text itself, as before.
        token = call_token(message.status_callback, recipient.phone)
        return self.client.call_flow(
            to=recipient.phone,
            app_id=self.app_id,
            url=self.url,
            caller_id=caller_id,
            custom_field=message.text if token is None else token,
            time_limit=self.time_limit,
            time_out=self.time_out,
            record=self.record,
            status_callback=callback,
        )


def lookup(client: ExotelClient, sid: str, kind: str | None) -> Mapping[str, Any]:
    """``notifykit status``: an SMS or a call by Sid (``kind`` ``None`` tries SMS, then call)."""
    from notifykit_exotel.errors import ExotelError, NotFoundError

    kinds = [kind] if kind else ["sms", "call"]
    last: ExotelError | None = None
    for each in kinds:
        try:
            if each == "sms":
                sms = client.sms_details(sid)
                return {
                    "kind": "sms",
                    "sid": sms.sid,
                    "status": _status(sms.status),
                    "detailed_status": sms.detailed_status,
                    "detailed_status_code": sms.detailed_status_code,
                    "to": sms.to,
                    "from": sms.from_,
                    "date_created": _status(sms.date_created),
                    "date_sent": _status(sms.date_sent),
                    "price": _status(sms.price),
                    "sms_units": sms.sms_units,
                }
            call = client.call_details(sid)
            return {
                "kind": "call",
                "sid": call.sid,
                "status": _status(call.status),
                "to": call.to,
                "from": call.from_,
                "start_time": _status(call.start_time),
                "end_time": _status(call.end_time),
                "duration": call.duration,
                "price": _status(call.price),
            }
        except NotFoundError as err:
            last = err
            continue
        except ExotelError as err:
            raise ProviderError(f"Exotel: {err}") from err
    what = " or ".join("SMS" if k == "sms" else "call" for k in kinds)
    raise ProviderError(f"no {what} with Sid {sid!r} in this account ({last})", not_found=True)
