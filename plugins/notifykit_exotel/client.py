"""``ExotelClient``: a complete, typed Python client for Exotel's v1 voice and SMS API.

It covers everything the PHP seed ``mvkaran/exotel`` offered (``call_number``, ``call_flow``,
``call_details``, ``send_sms``, ``sms_details``) with the same method and parameter names, and the
rest of the documented v1 surface: every call and SMS parameter, bulk SMS (same body and per
recipient), bulk call details with paging, and number metadata. It validates before sending,
retries only what is safe to retry, keeps itself under Exotel's rate limit, and never shows the
API token. It can be used on its own: of ``notifykit`` it imports only :mod:`notifykit.http`, the
HTTP layer plugins share, which imports nothing of notifykit itself.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import json
import logging
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from .errors import (
    ExotelError,
    InsufficientParametersError,
    NotFoundError,
    PartialSendError,
    error_for_response,
)
from .models import IST, BulkItemError, BulkSmsResult, Call, NumberInfo, SmsMessage, parse_str
from .retry import Limiter, RateLimiter, RetryPolicy
from .transport import NoAnswer, SessionTransport, Transport, Urllib3Transport, scrubbed_cause
from .wire import (
    BODY_MAX_CHARS,
    BULK_MAX,
    CUSTOM_FIELD_MAX,
    SMS_CALLBACK_CONTENT_TYPES,
    TIME_LIMIT_MAX,
    ArrayStyle,
    check_choice,
    check_extra,
    encode_form,
    encode_messages,
    flow_url,
    is_loopback,
    normalize_number,
)

if TYPE_CHECKING:  # the HTTP stack is imported on the first request: building a client is cheap
    import requests

__all__ = ["REGIONS", "BulkMessage", "ExotelClient"]

log = logging.getLogger("notifykit_exotel")

#: Exotel's v1 hosts by region (reference section 1). Calling the wrong region fails authentication.
REGIONS: dict[str, str] = {
    "singapore": "https://api.exotel.com",
    "mumbai": "https://api.in.exotel.com",
}
_REGION_ALIASES = {"sg": "singapore", "in": "mumbai", "india": "mumbai"}

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: Redirects a GET may follow, all within the base URL's origin. POSTs follow none.
MAX_REDIRECTS = 5
_BODY_SHOWN = 500
__version__ = "0.1.0"

_T = TypeVar("_T")
#: The shape of an E.164 number: what ``e164=True`` checks instead of libphonenumber's rules.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class _Url(str):
    """A request URL whose ``repr()`` is scrubbed of the credentials.

    A base URL's path may hold the token; the URL sits in the locals of the frames an error
    passes through, and a traceback renderer that shows locals (Sentry, rich, ``pytest -l``)
    prints them with ``repr()``. The string itself is the full URL, as the transport needs it.
    """

    shown: str

    def __new__(cls, url: str, shown: str) -> _Url:
        value = super().__new__(cls, url)
        value.shown = shown
        return value

    def __repr__(self) -> str:
        return repr(self.shown)


@dataclass(frozen=True)
class _Answer:
    """A 2xx answer: the parsed JSON and what it was parsed from."""

    data: Any
    status: int
    text: str


@dataclass(frozen=True)
class BulkMessage:
    """One message of :meth:`ExotelClient.send_bulk_dynamic`: its own recipient and body."""

    to: str
    body: str
    from_: str | None = None
    sms_type: str | None = None
    dlt_template_id: str | None = None
    custom_field: str | None = None


# The PHP seed's array keys, mapped to this client's keyword names.
_SEED_KEYS = {"from": "from_"}


def _seed_kwargs(method: str, mapping: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """Turn a PHP-style array (``{"from": ..., "caller_id": ...}``) into keyword arguments."""
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        name = _SEED_KEYS.get(key, key)
        if name not in allowed:
            raise InsufficientParametersError(
                f"{method}() got unknown key {key!r}; known keys: "
                + ", ".join(sorted(k.rstrip("_") if k == "from_" else k for k in allowed))
            )
        kwargs[name] = value
    return kwargs


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


class ExotelClient:
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
            200 per minute.
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
        rate_limit: Limiter | int | None = 200,
        rate_window: float = 60.0,
        default_region: str | None = "IN",
        normalize_numbers: bool = True,
        array_style: ArrayStyle = "indexed",
        before_request: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        if not isinstance(sid, str) or not sid.strip():
            raise InsufficientParametersError("sid is missing: give the Exotel account SID")
        if not isinstance(token, str) or not token:
            raise InsufficientParametersError("token is missing: give the Exotel API token")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise InsufficientParametersError("api_key is empty: give the API key, or None")
        _check_credential("token", token)
        if api_key is not None:
            _check_credential("api_key", api_key)
        self.sid = sid.strip()
        self.api_key = api_key or self.sid
        self._token = token
        self._secrets = _secret_forms(self.sid, self.api_key, token)
        self.base_url = self._resolve_base_url(region, base_url)
        self.timeout = _check_timeout(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        if isinstance(rate_limit, bool):
            raise InsufficientParametersError("rate_limit must be a RateLimiter, an int or None")
        try:
            self.rate_limiter: Limiter | None = (
                RateLimiter(rate_limit, rate_window) if isinstance(rate_limit, int) else rate_limit
            )
        except (TypeError, ValueError) as err:
            raise InsufficientParametersError(f"rate limit: {err}") from None
        self.default_region = default_region
        self.normalize_numbers = normalize_numbers
        if array_style not in ("indexed", "brackets", "repeat", "csv"):
            raise InsufficientParametersError(
                f"array_style={array_style!r} is not valid: use indexed, brackets, repeat or csv"
            )
        self.array_style: ArrayStyle = array_style
        self.before_request = before_request
        self._own_session = session is None
        self._given_session = session
        # The transport (and urllib3, ~40 ms of imports) is made on the first request, so a
        # client that never sends (a dry run) costs nothing.
        self._transport_made: Transport | None = None
        self._transport_lock = threading.Lock()
        self._prefix = f"{self.base_url}/v1/Accounts/{quote(self.sid, safe='')}/"
        if self._scrub(self.base_url) != self.base_url:
            _URLLIB3_SCRUB.add(self)  # urllib3 logs each request's path at DEBUG

    @staticmethod
    def _resolve_base_url(region: str, base_url: str | None) -> str:
        if base_url is None:
            key = _REGION_ALIASES.get(region.lower(), region.lower())
            if key not in REGIONS:
                raise InsufficientParametersError(
                    f"region={region!r} is not an Exotel region: use 'singapore' or 'mumbai'"
                )
            return REGIONS[key]
        parts = urlsplit(base_url.strip())
        if parts.username or parts.password:
            raise InsufficientParametersError(
                "base_url must not carry credentials: pass api_key and token instead"
            )
        host = parts.hostname or ""
        if parts.scheme == "https" and host:
            pass
        elif parts.scheme == "http" and is_loopback(host):
            pass  # the local simulator
        else:
            raise InsufficientParametersError(
                f"base_url={base_url!r} must be an https:// URL (http:// only for a loopback "
                f"address such as the local simulator)"
            )
        return base_url.strip().rstrip("/")

    @property
    def _transport(self) -> Transport:
        transport = self._transport_made
        if transport is None:
            with self._transport_lock:
                if self._transport_made is None:
                    self._transport_made = self._new_transport()
                transport = self._transport_made
        return transport

    def _new_transport(self) -> Transport:
        """The given session's transport, or the client's own urllib3 pool, with the
        environment's proxy and CA settings read once, here (see :mod:`.transport`)."""
        if self._given_session is not None:
            return SessionTransport(
                self._given_session,
                api_key=self.api_key,
                token=self._token,
                timeout=self.timeout,
                scrub=self._scrub,
            )
        from urllib3._version import __version__ as urllib3_version

        return Urllib3Transport(
            self.base_url,
            api_key=self.api_key,
            token=self._token,
            timeout=self.timeout,
            user_agent=f"notifykit-exotel/{__version__} python-urllib3/{urllib3_version}",
            scrub=self._scrub,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client's own connection pool (a session passed in is left open). A request
        after ``close()`` opens a new pool."""
        lock = getattr(self, "_transport_lock", None)
        if lock is None:  # __init__ raised before it
            return
        with lock:
            transport, self._transport_made = self._transport_made, None
        if transport is not None:
            transport.close()

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

    def _scrub(self, text: str) -> str:
        """``text`` without the token, the API key (when it is not the SID) or the Basic header.

        The token can sit in a base URL's path (a proxy that routes by it), so every URL and
        message this client logs or puts in an error goes through here.
        """
        for secret in getattr(self, "_secrets", ()):
            text = text.replace(secret, "<redacted>")
        return text

    # -- transport -------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._hidden(self._prefix + path)

    def _hidden(self, url: str) -> str:
        return _Url(url, self._scrub(url))

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        form: list[tuple[str, str]] | None = None,
        pages: Sequence[str] = (),
    ) -> _Answer:
        """Send one API request with rate limiting and the retry policy; return the 2xx answer.
        ``pages``: the numbers it pages, for ``before_request``."""
        attempt = 0
        while True:
            limiter = self.rate_limiter
            if limiter is not None:
                limiter.acquire()
                try:
                    if self.before_request is not None:  # after the wait for a slot
                        self.before_request(pages)
                    answer, status, reached = self._attempt(method, url, params=params, form=form)
                finally:
                    # Counted until it finished: see RateLimiter. A limiter of another kind may
                    # have no release().
                    release = getattr(limiter, "release", None)
                    if release is not None:
                        release()
            else:
                if self.before_request is not None:
                    self.before_request(pages)
                answer, status, reached = self._attempt(method, url, params=params, form=form)
            if not isinstance(answer, ExotelError):
                return answer
            error = answer
            if attempt >= self.retry.max_retries or not self.retry.should_retry(
                method, status=status, reached_server=reached
            ):
                raise error
            delay = self.retry.delay(attempt, error.retry_after)
            log.info(
                "Exotel %s %s failed (%s); retry %d/%d in %.2fs",
                method,
                self._shown(url),
                status if status is not None else type(error).__name__,
                attempt + 1,
                self.retry.max_retries,
                delay,
            )
            self.retry.sleep(delay)
            attempt += 1

    def _exchange(
        self,
        method: str,
        url: str,
        parse: Callable[[Any], _T],
        *,
        params: Mapping[str, str] | None = None,
        form: list[tuple[str, str]] | None = None,
        pages: Sequence[str] = (),
    ) -> _T:
        """One API call: send it, then turn the answer into a typed result with ``parse``.

        Whatever the body holds, this ends in ``parse``'s result or an :class:`ExotelError`;
        after a POST, one with ``maybe_sent=True`` (Exotel answered 2xx: it may have sent).
        """
        answer = self._request(method, url, params=params, form=form, pages=pages)
        try:
            return parse(answer.data)
        except ExotelError as err:
            problem = err  # a typed refusal of the body: say where it came from
            problem.status = answer.status if problem.status is None else problem.status
            problem.method = problem.method or method
            problem.url = problem.url or self._shown(url)
            problem.body = problem.body or _short(self._scrub(answer.text))
        except Exception as err:  # a body shaped like nothing we know must not escape as itself
            problem = self._unreadable(method, url, answer.status, answer.text, err)
        # Raised outside the except blocks, so the parser's exception (and its frames) is not
        # chained as __context__; _unreadable keeps its type and message as a scrubbed cause.
        raise problem

    def _unreadable(
        self, method: str, url: str, status: int, text: str, err: BaseException
    ) -> ExotelError:
        problem = ExotelError(
            f"Exotel answered HTTP {status} with a body this client cannot read "
            f"({type(err).__name__})",
            status=status,
            body=_short(self._scrub(text)),
            method=method,
            url=self._shown(url),
            maybe_sent=method.upper() == "POST",
        )
        problem.__cause__ = _scrubbed_cause(err, self._scrub)
        problem.__suppress_context__ = True
        return problem

    def _shown(self, url: str) -> str:
        return self._scrub(_redact_path(url))

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        form: list[tuple[str, str]] | None,
    ) -> tuple[_Answer | ExotelError, int | None, bool]:
        """One HTTP exchange: ``(answer or ExotelError, status, reached_server)``.

        Redirects are never followed by the transport: a POST that is redirected is not sent again
        (a 307/308 would post the SMS twice, or post it to another host; a 301/302/303 would
        turn it into a GET whose answer reads as the result). A GET follows up to
        :data:`MAX_REDIRECTS` redirects, and only within the base URL's origin, so the
        credentials never go to another host or over plain HTTP.
        """
        post = method.upper() == "POST"
        status: int | None = None
        transport = self._transport
        debug = log.isEnabledFor(logging.DEBUG)
        for _ in range(MAX_REDIRECTS + 1):
            shown = self._shown(url)
            started = time.monotonic()
            try:
                status, headers, text = transport.exchange(method, url, shown, params, form)
            except NoAnswer as failed:
                error, reached = failed.error, failed.reached
            else:
                if debug:
                    log.debug(
                        "Exotel %s %s -> %d (%.0f ms)",
                        method,
                        shown,
                        status,
                        (time.monotonic() - started) * 1000,
                    )
                if not 300 <= status < 400:
                    return self._answer(method, url, status, headers, text), status, True
                location = headers.get("Location") or ""
                target = urljoin(url, location) if location else ""
                if post or not target or not self._same_origin(target):
                    return self._redirect_error(method, shown, status, target), status, True
                url, params = self._hidden(target), None  # Location carries the query
                continue
            log.debug("Exotel %s %s -> %s", method, shown, type(error).__name__)
            return error, None, reached
        return (
            ExotelError(
                f"Exotel redirected more than {MAX_REDIRECTS} times; stopped",
                status=status,
                method=method,
                url=self._shown(url),
            ),
            status,
            True,
        )

    def _answer(
        self, method: str, url: str, status: int, headers: Mapping[str, str], text: str
    ) -> _Answer | ExotelError:
        if 200 <= status < 300:
            try:
                return _Answer(json.loads(text), status, text)
            except (ValueError, RecursionError) as err:  # not JSON, or nested too deep to parse
                return self._unreadable(method, url, status, text, err)
        return error_for_response(
            status,
            self._scrub(text),
            method=method,
            url=self._shown(url),
            retry_after=_retry_after(headers.get("Retry-After")),
        )

    def _same_origin(self, target: str) -> bool:
        """Whether ``target`` is on the base URL's scheme, host and port (its origin)."""
        return _origin(target) == _origin(self.base_url)

    def _redirect_error(self, method: str, shown: str, status: int, target: str) -> ExotelError:
        where = f" to {self._scrub(_origin(target) or target)}" if target else ""
        if method.upper() == "POST":
            reason = (
                "a POST is never sent again, so the redirect was not followed and the request "
                "may or may not have been processed"
            )
        elif not target:
            reason = "without a Location to follow"
        else:
            reason = (
                f"outside {self._scrub(_origin(self.base_url))}, so it was not followed (the "
                f"credentials go only to the base URL's own origin)"
            )
        return ExotelError(
            f"Exotel answered HTTP {status}, a redirect{where}: {reason}",
            status=status,
            method=method,
            url=shown,
            maybe_sent=method.upper() == "POST",
        )

    def _post(
        self,
        path: str,
        form: list[tuple[str, str]],
        parse: Callable[[Any], _T],
        pages: Sequence[str] = (),
    ) -> _T:
        return self._exchange("POST", self._url(path), parse, form=form, pages=pages)

    def _get(
        self, path: str, parse: Callable[[Any], _T], params: Mapping[str, str] | None = None
    ) -> _T:
        return self._exchange("GET", self._url(path), parse, params=params)

    # -- validation helpers ----------------------------------------------------------------------

    def _number(self, value: Any, field: str, e164: bool = False) -> str:
        if e164:
            # The caller validated it already (notifykit's planner parses every number once):
            # check its shape, which is cheap, instead of libphonenumber's rules, which are not.
            if isinstance(value, str) and _E164.fullmatch(value):
                return value
            raise InsufficientParametersError(
                f"{field}={value!r} is not in E.164 form (+, country code, number): with "
                "e164=True numbers must already be validated E.164; leave e164 out to have "
                "them checked and normalised"
            )
        if self.normalize_numbers:
            return normalize_number(value, field=field, region=self.default_region)
        if not isinstance(value, str) or not value.strip():
            raise InsufficientParametersError(f"{field} is missing: give a phone number")
        return value.strip()

    @staticmethod
    def _required(value: Any, field: str, hint: str) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InsufficientParametersError(f"{field} is missing: {hint}")
        if not isinstance(value, str):
            raise InsufficientParametersError(
                f"{field} must be a string, not {type(value).__name__}"
            )
        return value.strip()

    @staticmethod
    def _caller_id(value: Any) -> str:
        text = ExotelClient._required(value, "caller_id", "give your ExoPhone, e.g. 08088919888")
        if (
            not all(ch.isdigit() or ch in "+ -" for ch in text)
            or sum(ch.isdigit() for ch in text) < 6
        ):
            raise InsufficientParametersError(
                f"caller_id={value!r} is not an ExoPhone number: use the virtual number shown in "
                f"the Exotel dashboard, e.g. 08088919888"
            )
        return text.replace(" ", "").replace("-", "")

    @staticmethod
    def _check_urls(**urls: str | None) -> None:
        for name, value in urls.items():
            if value is None:
                continue
            scheme = urlsplit(value).scheme if isinstance(value, str) else ""
            allowed = ("ws", "wss") if name == "stream_url" else ("http", "https")
            if scheme not in allowed or not urlsplit(value).netloc:
                raise InsufficientParametersError(
                    f"{name}={value!r} is not a valid URL: give a full {allowed[1]}:// URL"
                )

    @staticmethod
    def _check_call_options(
        time_limit: int | None,
        time_out: int | None,
        custom_field: str | None,
        **choices: Any,
    ) -> None:
        for name, value in (("time_limit", time_limit), ("time_out", time_out)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InsufficientParametersError(
                    f"{name} must be a positive whole number of seconds"
                )
        if time_limit is not None and time_limit > TIME_LIMIT_MAX:
            raise InsufficientParametersError(
                f"time_limit={time_limit} is over Exotel's maximum of {TIME_LIMIT_MAX} s (4 hours)"
            )
        _check_custom_field(custom_field)
        for name, value in choices.items():
            check_choice(name, value)

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
            kwargs = _seed_kwargs("call_number", from_, _CALL_NUMBER_KEYS)
            _no_mixing("call_number", to, caller_id)
            return self.call_number(**kwargs)
        self._check_urls(wait_url=wait_url, status_callback=status_callback, stream_url=stream_url)
        self._check_call_options(
            time_limit,
            time_out,
            custom_field,
            call_type=call_type,
            recording_channels=recording_channels,
            recording_format=recording_format,
            status_callback_events=_as_list(status_callback_events),
            status_callback_content_type=status_callback_content_type,
        )
        rung = self._number(from_, "from_")
        form = encode_form(
            {
                "from_": rung,
                "to": self._number(to, "to"),
                "caller_id": self._caller_id(caller_id),
                "call_type": call_type,
                "time_limit": time_limit,
                "time_out": time_out,
                "wait_url": wait_url,
                "record": record,
                "recording_channels": recording_channels,
                "recording_format": recording_format,
                "custom_field": custom_field,
                "status_callback": status_callback,
                "status_callback_events": _as_list(status_callback_events),
                "status_callback_content_type": status_callback_content_type,
                "stream_url": stream_url,
            },
            array_style=self.array_style,
            extra=extra_params,
        )
        return self._post("Calls/connect.json", form, self._call_from, [rung])

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
            kwargs = _seed_kwargs("call_flow", to, _CALL_FLOW_KEYS)
            _no_mixing("call_flow", app_id, caller_id)
            return self.call_flow(**kwargs)
        if (app_id is None) == (url is None):
            raise InsufficientParametersError(
                "call_flow needs exactly one of app_id (the flow id) or url (a full flow URL)"
            )
        if url is not None:
            flow = self._required(url, "url", "give the flow URL")
            if urlsplit(flow).scheme not in ("http", "https"):
                raise InsufficientParametersError(f"url={url!r} is not an http(s) URL")
        else:
            flow = flow_url(self.sid, app_id if app_id is not None else "")
        self._check_urls(status_callback=status_callback)
        self._check_call_options(
            time_limit,
            time_out,
            custom_field,
            call_type=call_type,
            status_callback_events=_as_list(status_callback_events),
            status_callback_content_type=status_callback_content_type,
        )
        rung = self._number(to, "to")
        form = encode_form(
            {
                "from_": rung,
                "caller_id": self._caller_id(caller_id),
                "url": flow,
                "call_type": call_type,
                "time_limit": time_limit,
                "time_out": time_out,
                "record": record,
                "custom_field": custom_field,
                "status_callback": status_callback,
                "status_callback_events": _as_list(status_callback_events),
                "status_callback_content_type": status_callback_content_type,
            },
            array_style=self.array_style,
            extra=extra_params,
        )
        return self._post("Calls/connect.json", form, self._call_from, [rung])

    @staticmethod
    def _call_from(data: Any) -> Call:
        inner = data.get("Call") if isinstance(data, Mapping) else None
        if not isinstance(inner, Mapping) or not parse_str(inner.get("Sid")):
            # _exchange adds the HTTP status, the request and the start of the body.
            raise ExotelError(
                "Exotel accepted the call request but returned no Call Sid", maybe_sent=True
            )
        return Call.from_api(inner)

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
        sid = self._required(call_sid, "call_sid", "give the Sid returned when the call was made")
        params: dict[str, str] = {}
        if details:
            params["details"] = "true"
        if recording_url_validity is not None:
            if not isinstance(recording_url_validity, int) or not 5 <= recording_url_validity <= 60:
                raise InsufficientParametersError(
                    "recording_url_validity must be a whole number of minutes from 5 to 60"
                )
            params["RecordingUrlValidity"] = str(recording_url_validity)

        def parse(data: Any) -> Call:
            inner = data.get("Call") if isinstance(data, Mapping) else None
            if not isinstance(inner, Mapping):
                raise NotFoundError(f"no call with Sid {sid!r}")
            return Call.from_api(inner)

        return self._get(f"Calls/{quote(sid, safe='')}.json", parse, params or None)

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
        sids = _as_list(sid)
        if sids is not None:
            if not sids or len(sids) > 100:
                raise InsufficientParametersError("sid filter takes 1 to 100 call Sids")
            params["Sid"] = ",".join(sids)
        if date_from is not None or date_to is not None:
            params["DateCreated"] = _date_filter(date_from, date_to)
        for name, wire, value in (("to", "To", to), ("from_", "From", from_)):
            numbers = _as_list(value)
            if numbers is not None:
                params[wire] = ",".join(self._numbers_filter(numbers, name))
        exophones = _as_list(phone_number)
        if exophones is not None:
            if not exophones or len(exophones) > 5:
                raise InsufficientParametersError("phone_number filter takes 1 to 5 ExoPhones")
            params["PhoneNumber"] = ",".join(self._caller_id(p) for p in exophones)
        statuses = _as_list(status)
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

    def _numbers_filter(self, numbers: list[str], name: str) -> list[str]:
        if not numbers or len(numbers) > 5:
            raise InsufficientParametersError(f"{name} filter takes 1 to 5 numbers")
        return [normalize_number(n, field=name, region=self.default_region) for n in numbers]

    def _iter_calls(self, params: dict[str, str], max_results: int | None) -> Iterator[Call]:
        yielded = 0
        seen: set[str] = set()
        calls, next_uri = self._get("Calls.json", _calls_page, params)
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
            calls, next_uri = self._exchange("GET", self._next_page_url(next_uri), _calls_page)

    def _next_page_url(self, next_uri: str) -> str:
        # NextPageUri is a path (and query) on the same host; never follow it anywhere else.
        parts = urlsplit(next_uri)
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}" != self.base_url:
                raise ExotelError(f"Exotel returned a next-page URL on another host: {next_uri!r}")
            next_uri = parts.path + (f"?{parts.query}" if parts.query else "")
        if not next_uri.startswith("/"):
            next_uri = "/" + next_uri
        return self._hidden(self.base_url + next_uri)

    def number_info(self, number: str) -> NumberInfo:
        """Operator, circle and DND registration of a number: ``GET Numbers/<number>``."""
        e164 = normalize_number(number, field="number", region=self.default_region)
        return self._get(
            f"Numbers/{quote(e164, safe='+')}.json",
            lambda data: NumberInfo.from_api(data if isinstance(data, Mapping) else {}),
        )

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
            kwargs = _seed_kwargs("send_sms", from_, _SEND_SMS_KEYS)
            _no_mixing("send_sms", to, body)
            return self.send_sms(**kwargs)
        number = self._number(to, "to", e164)
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
        return self._post("Sms/send.json", form, _sent_sms, [number])

    def _sms_form(
        self,
        from_: Any,
        body: Any,
        *,
        to: str | list[str] | None,
        extra_params: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> list[tuple[str, str]]:
        sender = self._required(from_, "from_", "give your ExoPhone or DLT sender id")
        self._check_urls(status_callback=options.get("status_callback"))
        text = _check_body(body)
        _check_custom_field(options.get("custom_field"))
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
        sid = self._required(sms_sid, "sms_sid", "give the Sid returned when the SMS was sent")

        def parse(data: Any) -> SmsMessage:
            message = _first_sms(data)
            if message is None:
                raise NotFoundError(
                    f"no SMS with Sid {sid!r} (Exotel: {_message_of(data) or 'No matching results'})"
                )
            return message

        return self._get(f"SMS/Messages/{quote(sid, safe='')}.json", parse)

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
        numbers = _dedupe([self._number(n, f"to[{i}]", e164) for i, n in enumerate(to)])
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
        items = [self._bulk_message(i, m) for i, m in enumerate(messages)]
        check_extra(extra_params, {"Messages": "messages"})
        sender = None if from_ is None else self._required(from_, "from_", "give a sender")
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
        self._check_urls(status_callback=status_callback)
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

    def _bulk_message(self, index: int, message: BulkMessage | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(message, BulkMessage):
            raw: dict[str, Any] = {
                "to": message.to,
                "body": message.body,
                "from_": message.from_,
                "sms_type": message.sms_type,
                "dlt_template_id": message.dlt_template_id,
                "custom_field": message.custom_field,
            }
        elif isinstance(message, Mapping):
            raw = {}
            for key, value in message.items():
                name = _SEED_KEYS.get(key, key)
                if name not in (
                    "to",
                    "body",
                    "from_",
                    "sms_type",
                    "dlt_template_id",
                    "custom_field",
                ):
                    raise InsufficientParametersError(
                        f"messages[{index}] has unknown key {key!r}; known keys: to, body, from, "
                        f"sms_type, dlt_template_id, custom_field"
                    )
                raw[name] = value
        else:
            raise InsufficientParametersError(
                f"messages[{index}] must be a BulkMessage or a mapping, not {type(message).__name__}"
            )
        raw["to"] = self._number(raw.get("to"), f"messages[{index}].to")
        try:
            raw["body"] = _check_body(raw.get("body"))
        except InsufficientParametersError as err:
            raise InsufficientParametersError(f"messages[{index}]: {err.message}") from None
        if raw.get("from_") is not None:
            raw["from_"] = self._required(raw["from_"], f"messages[{index}].from", "give a sender")
        check_choice("sms_type", raw.get("sms_type"))
        _check_custom_field(raw.get("custom_field"))
        return raw

    def _send_chunks(
        self,
        path: str,
        forms: list[list[tuple[str, str]]],
        recipients: list[list[str]],
    ) -> BulkSmsResult:
        # Accumulated in lists, one result built at the end: merging a result per chunk copied
        # every message so far again (quadratic in the chunks).
        messages: list[SmsMessage] = []
        errors: list[BulkItemError] = []
        offset = 0  # the first recipient's position in the whole send
        for index, form in enumerate(forms):
            chunk = recipients[index]
            try:
                sent, refused = self._post(path, form, functools.partial(_bulk_items, chunk), chunk)
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


# -- module helpers ------------------------------------------------------------------------------


class _ScrubFilter(logging.Filter):
    """Scrubs the secrets of clients whose base URL holds one from urllib3's DEBUG lines.

    urllib3 logs ``"POST /<path> HTTP/1.1" 200`` for every request; with a token in the base
    URL's path (a proxy that routes by it) that line would print the token. Clients register
    only in that case, and weakly: the filter keeps no secret of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._clients: weakref.WeakSet[ExotelClient] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, client: ExotelClient) -> None:
        with self._lock:
            self._clients.add(client)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            clients = list(self._clients)
        if clients:
            text = record.getMessage()
            scrubbed = text
            for client in clients:
                scrubbed = client._scrub(scrubbed)
            if scrubbed != text:
                record.msg, record.args = scrubbed, ()
        return True


_URLLIB3_SCRUB = _ScrubFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_SCRUB)


def _check_credential(name: str, value: str) -> None:
    """Refuse a key or token that cannot be a Basic-auth credential, without ever echoing it.

    Exotel's keys and tokens are alphanumeric. Anything else is a mistake (a trailing newline read
    from a file, a pasted quote) that would only surface as a 401; a non-Latin-1 character would
    even raise UnicodeEncodeError while sending, whose repr() carries the whole secret.
    """
    if not (value.isascii() and value.isprintable()) or any(ch.isspace() for ch in value):
        raise InsufficientParametersError(
            f"{name} contains spaces, line breaks or non-ASCII characters: Exotel's API "
            f"credentials are plain letters and digits (check how it was read or pasted)"
        )
    if name == "api_key" and ":" in value:
        raise InsufficientParametersError("api_key contains ':', which Basic auth cannot carry")


def _check_timeout(timeout: Any) -> float | tuple[float, float]:
    """Every request needs a finite, positive timeout: ``None`` would let one hang forever."""

    def ok(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0

    if ok(timeout) or (
        isinstance(timeout, tuple) and len(timeout) == 2 and all(ok(v) for v in timeout)
    ):
        return timeout  # type: ignore[no-any-return]
    raise InsufficientParametersError(
        f"timeout={timeout!r} is not valid: give seconds (> 0) or a (connect, read) pair"
    )


_CALL_NUMBER_KEYS = (
    "from_", "to", "caller_id", "call_type", "time_limit", "time_out", "wait_url", "record",
    "recording_channels", "recording_format", "custom_field", "status_callback",
    "status_callback_events", "status_callback_content_type", "stream_url", "extra_params",
)  # fmt: skip
_CALL_FLOW_KEYS = (
    "to", "app_id", "caller_id", "url", "call_type", "time_limit", "time_out", "custom_field",
    "status_callback", "status_callback_events", "status_callback_content_type", "record",
    "extra_params",
)  # fmt: skip
_SEND_SMS_KEYS = (
    "from_", "to", "body", "priority", "status_callback", "status_callback_content_type",
    "encoding_type", "dlt_entity_id", "dlt_template_id", "sms_type", "custom_field",
    "shorten_url", "extra_params",
)  # fmt: skip


def _no_mixing(method: str, *others: Any) -> None:
    if any(value is not None for value in others):
        raise InsufficientParametersError(
            f"{method}() takes either one mapping of the PHP seed's keys or keyword arguments, not both"
        )


def _check_body(body: Any) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InsufficientParametersError("body is missing: give the SMS text")
    if len(body) > BODY_MAX_CHARS:
        raise InsufficientParametersError(
            f"body is {len(body)} characters, over Exotel's limit of {BODY_MAX_CHARS}: shorten it"
        )
    return body


def _check_custom_field(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InsufficientParametersError(
            "custom_field must be a string (use json.dumps() for structured data)"
        )
    if len(value) > CUSTOM_FIELD_MAX and not _custom_field_warned.is_set():
        # The 128-character cap comes only from Exotel's new docs (UNCONFIRMED): say it once per
        # process, not on every call of an IVR that reads long texts.
        _custom_field_warned.set()
        log.warning(
            "custom_field is %d characters; Exotel's docs say it may be cut at %d "
            "(said once per process)",
            len(value),
            CUSTOM_FIELD_MAX,
        )


_custom_field_warned = threading.Event()


def _dedupe(items: list[_T]) -> list[_T]:
    return list(dict.fromkeys(items))


def _sent_sms(data: Any) -> SmsMessage:
    message = _first_sms(data)
    if message is None:
        # _exchange adds the HTTP status, the request and the start of the body.
        raise ExotelError(
            "Exotel accepted the SMS request but returned no SMSMessage Sid", maybe_sent=True
        )
    return message


def _calls_page(data: Any) -> tuple[list[Call], str | None]:
    """One page of ``GET Calls``: its calls and the next page's URI."""
    calls = data.get("Calls") if isinstance(data, Mapping) else None
    items = (
        [Call.from_api(c) for c in calls if isinstance(c, Mapping)]
        if isinstance(calls, list)
        else []
    )
    meta = data.get("Metadata") if isinstance(data, Mapping) else None
    next_uri = meta.get("NextPageUri") if isinstance(meta, Mapping) else None
    return items, next_uri if isinstance(next_uri, str) and next_uri else None


def _first_sms(data: Any) -> SmsMessage | None:
    if isinstance(data, list):
        data = data[0] if len(data) == 1 else None
    inner = data.get("SMSMessage") if isinstance(data, Mapping) else None
    if isinstance(inner, Mapping) and parse_str(inner.get("Sid")):
        return SmsMessage.from_api(inner)
    return None


def _message_of(data: Any) -> str | None:
    if isinstance(data, Mapping):
        for key in ("Message", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])
        exc = data.get("RestException")
        if isinstance(exc, Mapping) and isinstance(exc.get("Message"), str):
            return str(exc["Message"])
    return None


def _bulk_items(recipients: list[str], data: Any) -> tuple[list[SmsMessage], list[BulkItemError]]:
    """Split a bulk response into accepted messages and per-recipient refusals.

    The response shape is UNCONFIRMED (reference 5.2): a top-level array of ``{"SMSMessage": ...}``
    or ``{"RestException": ...}`` items in request order is expected; a single object (one
    recipient) and ``{"SMSMessage": [...]}`` are accepted too.
    """
    if isinstance(data, Mapping):
        inner = data.get("SMSMessage")
        data = [{"SMSMessage": m} for m in inner] if isinstance(inner, list) else [data]
    if not isinstance(data, list):
        raise ExotelError("Exotel's bulk SMS response is not a list", maybe_sent=True)
    messages: list[SmsMessage] = []
    errors: list[BulkItemError] = []
    for position, item in enumerate(data):
        if not isinstance(item, Mapping):
            continue
        sms = item.get("SMSMessage")
        if isinstance(sms, Mapping) and parse_str(sms.get("Sid")):
            message = SmsMessage.from_api(sms)
            messages.append(message)
            continue
        exc = item.get("RestException", item)
        status = exc.get("Status") if isinstance(exc, Mapping) else None
        if isinstance(status, str) and status.isascii() and status.isdigit() and len(status) == 3:
            status = int(status)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
            status = 400  # a refusal without a usable status is still a refusal of this item
        err = error_for_response(status, _dumps(item), method="POST", url="bulk item")
        to = recipients[position] if position < len(recipients) else "?"
        errors.append(BulkItemError(position, to, err))
    return messages, errors


def _redact_path(url: str) -> str:
    return urlsplit(url).path


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL (port made explicit), or ``""`` when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _short(text: str) -> str:
    return text[:_BODY_SHOWN]


def _dumps(data: Any) -> str:
    """JSON text of parsed data for an error's body; never raises (it may nest too deep)."""
    try:
        return json.dumps(data)[:_BODY_SHOWN]
    except (ValueError, TypeError, RecursionError):
        return ""


def _secret_forms(sid: str, api_key: str, token: str) -> tuple[str, ...]:
    """Every spelling of the credentials that could end up in a URL, a message or a header."""
    basic = base64.b64encode(f"{api_key}:{token}".encode("latin-1")).decode("ascii")
    secrets = {token, quote(token, safe=""), basic}
    if api_key != sid:  # the legacy scheme uses the SID, which is in every URL and not secret
        secrets |= {api_key, quote(api_key, safe="")}
    return tuple(sorted(secrets, key=len, reverse=True))


_scrubbed_cause = scrubbed_cause  # the transports' stand-in, for parser errors too


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP date (RFC 9110), else ``None``."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _date_filter(date_from: datetime | str | None, date_to: datetime | str | None) -> str:
    def fmt(value: datetime | str) -> tuple[str, datetime | None]:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=IST)
            local = aware.astimezone(IST)
            return local.strftime("%Y-%m-%d %H:%M:%S"), local
        text = str(value).strip()
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
        except ValueError:
            raise InsufficientParametersError(
                f"date {value!r} must be a datetime or 'YYYY-MM-DD HH:MM:SS' (IST)"
            ) from None
        return text, parsed

    parts = []
    start = end = None
    if date_from is not None:
        text, start = fmt(date_from)
        parts.append(f"gte:{text}")
    if date_to is not None:
        text, end = fmt(date_to)
        parts.append(f"lte:{text}")
    if start and end:
        if end < start:
            raise InsufficientParametersError("date_to is before date_from")
        if (end - start).days > 31:
            raise InsufficientParametersError(
                "date_from and date_to may be at most a month apart (Exotel's limit); split the range"
            )
    return ";".join(parts)
