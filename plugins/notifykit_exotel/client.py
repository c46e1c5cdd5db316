"""``ExotelClient``: a complete, typed Python client for Exotel's v1 voice and SMS API.

It covers everything the PHP seed ``mvkaran/exotel`` offered (``call_number``, ``call_flow``,
``call_details``, ``send_sms``, ``sms_details``) with the same method and parameter names, and the
rest of the documented v1 surface: every call and SMS parameter, bulk SMS (same body and per
recipient), bulk call details with paging, and number metadata. It validates before sending,
retries only what is safe to retry, keeps itself under Exotel's rate limit, and never shows the
API token. It can be used on its own: of ``notifykit`` it imports only :mod:`notifykit.http`, the
HTTP layer plugins share, which imports nothing of notifykit itself.

This module holds the verbs. Each checks its arguments (:mod:`._validate`), encodes them
(:mod:`.wire`), sends them through the request layer it inherits (:mod:`._request`) and reads
the answer with its parser (:mod:`.parsers`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from notifykit._lazy import lazy_module

from . import __version__ as __version__
from ._request import MAX_REDIRECTS as MAX_REDIRECTS
from ._request import ClientBase
from ._validate import (
    CALL_FLOW_KEYS,
    CALL_NUMBER_KEYS,
    REGIONS,
    SEND_SMS_KEYS,
    as_list,
    build_rate_limiter,
    check_array_style,
    check_body,
    check_bulk_message,
    check_call_options,
    check_credentials,
    check_custom_field,
    check_timeout,
    check_urls,
    date_filter,
    dedupe,
    exophone,
    no_mixing,
    numbers_filter,
    required,
    resolve_base_url,
    seed_kwargs,
    valid_number,
)
from .errors import ExotelError, InsufficientParametersError, PartialSendError
from .retry import DEFAULT_RATE_LIMIT, Limiter, RetryPolicy
from .wire import (
    BULK_MAX,
    SMS_CALLBACK_CONTENT_TYPES,
    ArrayStyle,
    check_choice,
    check_extra,
    encode_form,
    encode_messages,
    flow_url,
    normalize_number,
)

if TYPE_CHECKING:  # the HTTP stack is imported on the first request: building a client is cheap
    import requests

    from . import parsers
    from .models import (
        BulkItemError,
        BulkSmsResult,
        Call,
        ExoPhone,
        NumberInfo,
        SmsMessage,
        WhitelistStatus,
    )
else:
    # The parsers and the result classes they build (models: ~20 dataclasses, the largest
    # import of a first dry run, which builds a client and reads no answer) load on first use.
    parsers = lazy_module("notifykit_exotel.parsers")

__all__ = ["REGIONS", "BulkMessage", "ExotelClient"]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)

# Helpers that lived in this module before the client was split by layer, still importable from
# here (the parser property tests and the Retry-After test import them).


def __getattr__(name: str) -> Any:
    # ``_bulk_items``, ``_calls_page``, ``_first_sms``: the parsers' old names here, resolved on
    # first use so that importing the client does not import the parsers; ``_retry_after``,
    # notifykit.http's, so that building a client does not import the HTTP layer.
    if name in ("_bulk_items", "_calls_page", "_first_sms"):
        return getattr(parsers, name[1:])
    if name == "_retry_after":
        from notifykit.http import retry_after

        return retry_after
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class BulkMessage:
    """One message of :meth:`ExotelClient.send_bulk_dynamic`: its own recipient and body."""

    to: str
    body: str
    from_: str | None = None
    sms_type: str | None = None
    dlt_template_id: str | None = None
    custom_field: str | None = None

    def _fields(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "body": self.body,
            "from_": self.from_,
            "sms_type": self.sms_type,
            "dlt_template_id": self.dlt_template_id,
            "custom_field": self.custom_field,
        }


class ExotelClient(ClientBase):
    """A client for one Exotel account.

    Args:
        sid: the account SID (it goes in every URL path).
        token: the API token (the Basic-auth password). Never shown in reprs, logs or errors.
        api_key: the API key (the Basic-auth username). Defaults to ``sid``, the legacy scheme the
            PHP seed used; current accounts have a separate key.
        region: ``"singapore"`` (``api.exotel.com``, default) or ``"mumbai"`` (``api.in.exotel.com``).
        base_url: overrides ``region`` (e.g. the local simulator). HTTPS only, except loopback.
        timeout: seconds, or ``(connect, read)``; applied to every request.
        session: a ``requests.Session`` to send through, used as it is (its adapters, proxies,
            certificates and headers); by default the client sends through its own urllib3
            connection pool, which it closes in :meth:`close`.
        retry: the :class:`RetryPolicy` (``RetryPolicy.none()`` disables retries).
        rate_limit: a :class:`RateLimiter` (share one between clients of one account), an int for
            requests per ``rate_window``, or ``None`` to disable client-side limiting. Default
            :data:`~notifykit_exotel.retry.DEFAULT_RATE_LIMIT` (200) per minute.
        rate_window: the window of an int ``rate_limit``, in seconds (default 60).
        default_region: country assumed for numbers without a country code (``None``: require E.164).
        normalize_numbers: ``False`` sends ``From``/``To`` exactly as given (still non-empty).
        array_style: how lists go on the wire (``StatusCallbackEvents``, bulk ``To``); see
            :data:`notifykit_exotel.wire.ARRAY_STYLES` (Exotel's canonical form is UNCONFIRMED).
        before_request: called right before each request goes out (each attempt, each chunk of
            a bulk send), in the thread that sends it, with the numbers it pages (an SMS's
            ``To`` numbers, the number a call rings first; none for a lookup). An
            :class:`ExotelError` it raises (such as :class:`SendStoppedError`) is raised
            instead, and nothing is sent. An application that is stopping uses it to start no
            new request while those in flight finish; a bulk send stopped part-way raises
            :class:`PartialSendError` with what was sent.
    """

    def __init__(
        self,
        sid: str,
        token: str,
        *,
        api_key: str | None = None,
        region: str = "singapore",
        base_url: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: Limiter | int | None = DEFAULT_RATE_LIMIT,
        rate_window: float = 60.0,
        default_region: str | None = "IN",
        normalize_numbers: bool = True,
        array_style: ArrayStyle = "indexed",
        before_request: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        account, key = check_credentials(sid, token, api_key)
        url = resolve_base_url(region, base_url)
        checked_timeout = check_timeout(timeout)
        limiter = build_rate_limiter(rate_limit, rate_window)
        self.default_region = default_region
        self.normalize_numbers = normalize_numbers
        self.array_style: ArrayStyle = check_array_style(array_style)
        super().__init__(
            sid=account,
            api_key=key,
            token=token,
            base_url=url,
            timeout=checked_timeout,
            session=session,
            retry=retry if retry is not None else RetryPolicy(),
            rate_limiter=limiter,
            before_request=before_request,
        )

    def __enter__(self) -> ExotelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # getattr: a client whose __init__ raised (or a subclass that has not called it yet)
        # is still shown by debuggers and loggers, and repr() must not raise there.
        sid = getattr(self, "sid", None)
        base_url = getattr(self, "base_url", None)
        shown = self._scrub(base_url) if isinstance(base_url, str) else base_url
        return f"ExotelClient(sid={sid!r}, base_url={shown!r})"

    # -- calls -------------------------------------------------------------------------------------

    def call_number(
        self,
        from_: str | Mapping[str, Any] | None = None,
        to: str | None = None,
        caller_id: str | None = None,
        *,
        call_type: str | None = None,
        time_limit: int | None = None,
        time_out: int | None = None,
        wait_url: str | None = None,
        record: bool | None = None,
        recording_channels: str | None = None,
        recording_format: str | None = None,
        custom_field: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] | None = None,
        status_callback_content_type: str | None = None,
        stream_url: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> Call:
        """Connect two numbers (click-to-call, number masking): ``POST Calls/connect``.

        Exotel rings ``from_`` first; when it answers, rings ``to`` and bridges them, both seeing
        ``caller_id`` (your ExoPhone). Accepts the PHP seed's array too:
        ``call_number({"from": ..., "to": ..., "caller_id": ...})``.
        """
        if isinstance(from_, Mapping):
            kwargs = seed_kwargs("call_number", from_, CALL_NUMBER_KEYS)
            no_mixing("call_number", to, caller_id)
            return self.call_number(**kwargs)
        check_urls(wait_url=wait_url, status_callback=status_callback, stream_url=stream_url)
        check_call_options(
            time_limit,
            time_out,
            custom_field,
            call_type=call_type,
            recording_channels=recording_channels,
            recording_format=recording_format,
            status_callback_events=as_list(status_callback_events),
            status_callback_content_type=status_callback_content_type,
        )
        rung = valid_number(
            from_, "from_", normalize=self.normalize_numbers, region=self.default_region
        )
        form = encode_form(
            {
                "from_": rung,
                "to": valid_number(
                    to, "to", normalize=self.normalize_numbers, region=self.default_region
                ),
                "caller_id": exophone(caller_id),
                "call_type": call_type,
                "time_limit": time_limit,
                "time_out": time_out,
                "wait_url": wait_url,
                "record": record,
                "recording_channels": recording_channels,
                "recording_format": recording_format,
                "custom_field": custom_field,
                "status_callback": status_callback,
                "status_callback_events": as_list(status_callback_events),
                "status_callback_content_type": status_callback_content_type,
                "stream_url": stream_url,
            },
            array_style=self.array_style,
            extra=extra_params,
        )
        return self._post("Calls/connect.json", form, parsers.sent_call, [rung])

    def call_flow(
        self,
        to: str | Mapping[str, Any] | None = None,
        app_id: str | int | None = None,
        caller_id: str | None = None,
        *,
        url: str | None = None,
        call_type: str | None = None,
        time_limit: int | None = None,
        time_out: int | None = None,
        custom_field: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] | None = None,
        status_callback_content_type: str | None = None,
        record: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> Call:
        """Connect a number to an Exotel flow (an IVR app): ``POST Calls/connect`` with ``Url``.

        Exotel calls ``to`` (sent as ``From``, as in the PHP seed) and, on answer, runs the flow
        ``app_id`` (the URL ``http://my.exotel.com/<sid>/exoml/start_voice/<app_id>`` is built for
        you; pass ``url=`` to use another). ``custom_field`` is handed to the flow's Passthru and
        Greeting applets, e.g. the text to read out.
        """
        if isinstance(to, Mapping):
            kwargs = seed_kwargs("call_flow", to, CALL_FLOW_KEYS)
            no_mixing("call_flow", app_id, caller_id)
            return self.call_flow(**kwargs)
        if (app_id is None) == (url is None):
            raise InsufficientParametersError(
                "call_flow needs exactly one of app_id (the flow id) or url (a full flow URL)"
            )
        if url is not None:
            flow = required(url, "url", "give the flow URL")
            if urlsplit(flow).scheme not in ("http", "https"):
                raise InsufficientParametersError(f"url={url!r} is not an http(s) URL")
        else:
            flow = flow_url(self.sid, app_id if app_id is not None else "")
        check_urls(status_callback=status_callback)
        check_call_options(
            time_limit,
            time_out,
            custom_field,
            call_type=call_type,
            status_callback_events=as_list(status_callback_events),
            status_callback_content_type=status_callback_content_type,
        )
        rung = valid_number(to, "to", normalize=self.normalize_numbers, region=self.default_region)
        form = encode_form(
            {
                "from_": rung,
                "caller_id": exophone(caller_id),
                "url": flow,
                "call_type": call_type,
                "time_limit": time_limit,
                "time_out": time_out,
                "record": record,
                "custom_field": custom_field,
                "status_callback": status_callback,
                "status_callback_events": as_list(status_callback_events),
                "status_callback_content_type": status_callback_content_type,
            },
            array_style=self.array_style,
            extra=extra_params,
        )
        return self._post("Calls/connect.json", form, parsers.sent_call, [rung])

    def call_details(
        self,
        call_sid: str | Mapping[str, Any],
        *,
        details: bool = False,
        recording_url_validity: int | None = None,
    ) -> Call:
        """Look up a call: ``GET Calls/<sid>``. ``details=True`` adds per-leg data (``call.details``)."""
        if isinstance(call_sid, Mapping):
            call_sid = call_sid.get("sid", call_sid.get("call_sid"))
        sid = required(call_sid, "call_sid", "give the Sid returned when the call was made")
        params: dict[str, str] = {}
        if details:
            params["details"] = "true"
        if recording_url_validity is not None:
            if not isinstance(recording_url_validity, int) or not 5 <= recording_url_validity <= 60:
                raise InsufficientParametersError(
                    "recording_url_validity must be a whole number of minutes from 5 to 60"
                )
            params["RecordingUrlValidity"] = str(recording_url_validity)
        return self._get(
            f"Calls/{quote(sid, safe='')}.json",
            functools.partial(parsers.found_call, sid),
            params or None,
        )

    def list_calls(
        self,
        *,
        sid: str | Sequence[str] | None = None,
        date_from: datetime | str | None = None,
        date_to: datetime | str | None = None,
        to: str | Sequence[str] | None = None,
        from_: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        direction: str | None = None,
        phone_number: str | Sequence[str] | None = None,
        duration: str | None = None,
        price: str | None = None,
        page_size: int = 100,
        sort_by: str | None = None,
        max_results: int | None = None,
    ) -> Iterator[Call]:
        """Iterate over finished calls (bulk call details, ``GET Calls``), following pages.

        Filters follow Exotel's rules: up to 100 Sids; up to 5 numbers each for ``to``, ``from_``
        and ``phone_number`` (normalised to E.164); ``date_from``/``date_to`` (IST) at most a month
        apart; ``duration``/``price`` in Exotel's operator form (``"gte:10s;lte:45s"``). Ongoing
        calls are not listed by Exotel. The generator fetches the next page only when needed.
        """
        params: dict[str, str] = {}
        sids = as_list(sid)
        if sids is not None:
            if not sids or len(sids) > 100:
                raise InsufficientParametersError("sid filter takes 1 to 100 call Sids")
            params["Sid"] = ",".join(sids)
        if date_from is not None or date_to is not None:
            params["DateCreated"] = date_filter(date_from, date_to)
        for name, wire, value in (("to", "To", to), ("from_", "From", from_)):
            numbers = as_list(value)
            if numbers is not None:
                params[wire] = ",".join(numbers_filter(numbers, name, self.default_region))
        exophones = as_list(phone_number)
        if exophones is not None:
            if not exophones or len(exophones) > 5:
                raise InsufficientParametersError("phone_number filter takes 1 to 5 ExoPhones")
            params["PhoneNumber"] = ",".join(exophone(p) for p in exophones)
        statuses = as_list(status)
        if statuses is not None:
            params["Status"] = ",".join(statuses)
        if direction is not None:
            params["Direction"] = direction
        if duration is not None:
            params["Duration"] = duration
        if price is not None:
            params["Price"] = price
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= 100
        ):
            raise InsufficientParametersError("page_size must be from 1 to 100")
        params["PageSize"] = str(page_size)
        if sort_by is not None:
            if sort_by not in ("DateCreated:asc", "DateCreated:desc"):
                raise InsufficientParametersError(
                    "sort_by must be 'DateCreated:asc' or 'DateCreated:desc'"
                )
            params["SortBy"] = sort_by
        return self._iter_calls(params, max_results)

    def _iter_calls(self, params: dict[str, str], max_results: int | None) -> Iterator[Call]:
        yielded = 0
        seen: set[str] = set()
        calls, next_uri = self._get("Calls.json", parsers.calls_page, params)
        while True:
            for call in calls:
                if max_results is not None and yielded >= max_results:
                    return
                yield call
                yielded += 1
            if not next_uri or (max_results is not None and yielded >= max_results):
                return
            if next_uri in seen:
                raise ExotelError(
                    f"Exotel returned the same next page twice ({next_uri!r}); stopping rather "
                    "than looping"
                )
            seen.add(next_uri)
            calls, next_uri = self._exchange(
                "GET", self._next_page_url(next_uri), parsers.calls_page
            )

    def number_info(self, number: str) -> NumberInfo:
        """Operator, circle and DND registration of a number: ``GET Numbers/<number>``."""
        e164 = normalize_number(number, field="number", region=self.default_region)
        return self._get(f"Numbers/{quote(e164, safe='+')}.json", parsers.number_info)

    def whitelist_status(self, number: str) -> WhitelistStatus:
        """Where a number stands on the account's customer whitelist: ``GET
        CustomerWhitelist/<number>``. A number on India's DND/NDNC registry can be called only
        once whitelisted (``status == "Whitelist"``)."""
        e164 = normalize_number(number, field="number", region=self.default_region)
        return self._get(
            f"CustomerWhitelist/{quote(e164, safe='+')}.json", parsers.whitelist_status
        )

    #: how many pages of ExoPhones :meth:`list_exophones` follows before it stops
    MAX_EXOPHONE_PAGES = 50

    def list_exophones(self) -> list[ExoPhone]:
        """The account's ExoPhones with their capabilities: ``GET
        /v2_beta/Accounts/<sid>/IncomingPhoneNumbers`` (a beta endpoint outside v1; JSON by
        default). Follows ``next_page_uri`` when the answer names one (paging is UNCONFIRMED:
        the documented answer has ``page`` and ``page_size`` only)."""
        url = self._hidden(
            f"{self.base_url}/v2_beta/Accounts/{quote(self.sid, safe='')}/IncomingPhoneNumbers"
        )
        phones, next_uri = self._exchange("GET", url, parsers.exophones_page)
        seen: set[str] = set()
        while next_uri:
            if next_uri in seen or len(seen) >= self.MAX_EXOPHONE_PAGES:
                raise ExotelError(
                    f"Exotel's ExoPhone list did not end after {len(seen) + 1} pages (or "
                    f"returned the same next page twice: {next_uri!r}); stopping rather than "
                    "looping"
                )
            seen.add(next_uri)
            more, next_uri = self._exchange(
                "GET", self._next_page_url(next_uri), parsers.exophones_page
            )
            phones.extend(more)
        return phones

    # -- SMS ---------------------------------------------------------------------------------------

    def send_sms(
        self,
        from_: str | Mapping[str, Any] | None = None,
        to: str | None = None,
        body: str | None = None,
        *,
        priority: str | None = None,
        status_callback: str | None = None,
        status_callback_content_type: str | None = None,
        encoding_type: str | None = None,
        dlt_entity_id: str | None = None,
        dlt_template_id: str | None = None,
        sms_type: str | None = None,
        custom_field: str | None = None,
        shorten_url: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
        e164: bool = False,
    ) -> SmsMessage:
        """Send one SMS: ``POST Sms/send``.

        ``from_`` is your ExoPhone or a DLT-registered sender id (``NKALRT``). In India the body
        must match a DLT template registered with ``dlt_template_id`` under ``dlt_entity_id``, or
        the SMS is refused or downgraded to promotional. ``priority="high"`` is meant for OTPs
        only. Accepts the PHP seed's array too: ``send_sms({"from": ..., "to": ..., "body": ...})``.
        ``e164=True`` says ``to`` is already a validated E.164 number: only its shape is checked.
        """
        if isinstance(from_, Mapping):
            kwargs = seed_kwargs("send_sms", from_, SEND_SMS_KEYS)
            no_mixing("send_sms", to, body)
            return self.send_sms(**kwargs)
        number = valid_number(
            to, "to", e164=e164, normalize=self.normalize_numbers, region=self.default_region
        )
        form = self._sms_form(
            from_,
            body,
            to=number,
            priority=priority,
            status_callback=status_callback,
            status_callback_content_type=status_callback_content_type,
            encoding_type=encoding_type,
            dlt_entity_id=dlt_entity_id,
            dlt_template_id=dlt_template_id,
            sms_type=sms_type,
            custom_field=custom_field,
            shorten_url=shorten_url,
            extra_params=extra_params,
        )
        return self._post("Sms/send.json", form, parsers.sent_sms, [number])

    def _sms_form(
        self,
        from_: Any,
        body: Any,
        *,
        to: str | list[str] | None,
        extra_params: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[tuple[str, str]]:
        sender = required(from_, "from_", "give your ExoPhone or DLT sender id")
        check_urls(status_callback=options.get("status_callback"))
        text = check_body(body)
        check_custom_field(options.get("custom_field"))
        for name in ("priority", "encoding_type", "sms_type"):
            check_choice(name, options.get(name))
        check_choice(
            "status_callback_content_type",
            options.get("status_callback_content_type"),
            SMS_CALLBACK_CONTENT_TYPES,
        )
        return encode_form(
            {"from_": sender, "to": to, "body": text, **options},
            array_style=self.array_style,
            extra=extra_params,
        )

    def sms_details(self, sms_sid: str | Mapping[str, Any]) -> SmsMessage:
        """Look up an SMS: ``GET SMS/Messages/<sid>``.

        Exotel answers an unknown Sid with HTTP 200 "No matching results"; that raises
        :class:`NotFoundError` here, like a 404.
        """
        if isinstance(sms_sid, Mapping):
            sms_sid = sms_sid.get("sid", sms_sid.get("sms_sid"))
        sid = required(sms_sid, "sms_sid", "give the Sid returned when the SMS was sent")
        return self._get(
            f"SMS/Messages/{quote(sid, safe='')}.json", functools.partial(parsers.found_sms, sid)
        )

    def send_bulk_sms(
        self,
        from_: str,
        to: Sequence[str],
        body: str,
        *,
        priority: str | None = None,
        status_callback: str | None = None,
        status_callback_content_type: str | None = None,
        encoding_type: str | None = None,
        dlt_entity_id: str | None = None,
        dlt_template_id: str | None = None,
        sms_type: str | None = None,
        custom_field: str | None = None,
        shorten_url: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
        e164: bool = False,
    ) -> BulkSmsResult:
        """Send one body to many numbers: ``POST Sms/send`` with a list of ``To``, 100 per request.

        Every number is validated (and duplicates after normalisation dropped) before the first
        request. Numbers Exotel refuses one by one are in ``result.errors``. If a request after the
        first fails, :class:`PartialSendError` says what was sent (``.result``) and what was not
        (``.unsent``); if the first fails, its error is raised and nothing was sent.
        ``e164=True`` says the numbers are already validated E.164: only their shape is checked.
        """
        if isinstance(to, str):
            raise InsufficientParametersError(
                "to must be a list of numbers for send_bulk_sms; use send_sms for one number"
            )
        numbers = dedupe(
            [
                valid_number(
                    n,
                    f"to[{i}]",
                    e164=e164,
                    normalize=self.normalize_numbers,
                    region=self.default_region,
                )
                for i, n in enumerate(to)
            ]
        )
        if not numbers:
            raise InsufficientParametersError("to is empty: give at least one number")
        options = {
            "priority": priority,
            "status_callback": status_callback,
            "status_callback_content_type": status_callback_content_type,
            "encoding_type": encoding_type,
            "dlt_entity_id": dlt_entity_id,
            "dlt_template_id": dlt_template_id,
            "sms_type": sms_type,
            "custom_field": custom_field,
            "shorten_url": shorten_url,
        }
        chunks = [numbers[i : i + BULK_MAX] for i in range(0, len(numbers), BULK_MAX)]
        # Validate every chunk's form before sending any, so bad input never half-sends.
        forms = [
            self._sms_form(from_, body, to=chunk, extra_params=extra_params, **options)
            for chunk in chunks
        ]
        return self._send_chunks("Sms/send.json", forms, chunks)

    def send_bulk_dynamic(
        self,
        messages: Sequence[BulkMessage | Mapping[str, Any]],
        *,
        from_: str | None = None,
        priority: str | None = None,
        status_callback: str | None = None,
        encoding_type: str | None = None,
        dlt_entity_id: str | None = None,
        shorten_url: bool | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> BulkSmsResult:
        """Send a different body to each recipient: ``POST Sms/bulksend``, 100 messages per request.

        ``messages`` holds :class:`BulkMessage` objects or mappings with the keys ``to``, ``body``
        and optionally ``from``, ``sms_type``, ``dlt_template_id``, ``custom_field``. ``from_`` is
        the default sender for messages without their own. Errors as for :meth:`send_bulk_sms`.
        """
        if not messages:
            raise InsufficientParametersError("messages is empty: give at least one message")
        items = [
            check_bulk_message(
                i,
                m._fields() if isinstance(m, BulkMessage) else m,
                normalize=self.normalize_numbers,
                region=self.default_region,
            )
            for i, m in enumerate(messages)
        ]
        check_extra(extra_params, {"Messages": "messages"})
        sender = None if from_ is None else required(from_, "from_", "give a sender")
        if sender is None:
            # Exotel would refuse each such message one by one, after the request went out.
            missing = [i for i, item in enumerate(items) if item.get("from_") is None]
            if missing:
                shown = ", ".join(f"messages[{i}]" for i in missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise InsufficientParametersError(
                    f"{shown}{more} {'has' if len(missing) == 1 else 'have'} no sender: give "
                    f"from_= (the default sender: your ExoPhone or DLT sender id) or a 'from' in "
                    f"each message"
                )
        check_urls(status_callback=status_callback)
        for name, value in (("priority", priority), ("encoding_type", encoding_type)):
            check_choice(name, value)
        chunks = [items[i : i + BULK_MAX] for i in range(0, len(items), BULK_MAX)]
        forms = [
            encode_form(
                {
                    "from_": sender,
                    "priority": priority,
                    "status_callback": status_callback,
                    "encoding_type": encoding_type,
                    "dlt_entity_id": dlt_entity_id,
                    "shorten_url": shorten_url,
                },
                array_style=self.array_style,
                extra=extra_params,
            )
            + encode_messages(chunk)
            for chunk in chunks
        ]
        recipients = [[str(m["to"]) for m in chunk] for chunk in chunks]
        return self._send_chunks("Sms/bulksend.json", forms, recipients)

    def _send_chunks(
        self,
        path: str,
        forms: list[list[tuple[str, str]]],
        recipients: list[list[str]],
    ) -> BulkSmsResult:
        # Accumulated in lists, one result built at the end: merging a result per chunk copied
        # every message so far again (quadratic in the chunks).
        from .models import BulkItemError, BulkSmsResult

        messages: list[SmsMessage] = []
        errors: list[BulkItemError] = []
        offset = 0  # the first recipient's position in the whole send
        for index, form in enumerate(forms):
            chunk = recipients[index]
            try:
                sent, refused = self._post(
                    path, form, functools.partial(parsers.bulk_items, chunk), chunk
                )
            except ExotelError as err:
                if index == 0:
                    raise
                unsent = [n for chunk in recipients[index:] for n in chunk]
                raise PartialSendError(
                    f"bulk send stopped at request {index + 1} of {len(forms)}: {len(messages)} "
                    f"SMS were accepted, {len(unsent)} recipients were not sent ({err.message})",
                    result=BulkSmsResult(tuple(messages), tuple(errors), requests=index),
                    unsent=unsent,
                    status=err.status,
                    code=err.code,
                    maybe_sent=err.maybe_sent,
                ) from err
            messages.extend(sent)
            errors.extend(BulkItemError(e.index + offset, e.to, e.error) for e in refused)
            offset += len(chunk)
        return BulkSmsResult(tuple(messages), tuple(errors), requests=len(forms))
