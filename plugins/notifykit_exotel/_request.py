"""What every request of :class:`~notifykit_exotel.ExotelClient` goes through, whatever its verb.

:class:`ClientBase` holds the account's credentials and the transport (chosen, and made, on the
first request), and runs the request loop: the rate limiter's slot, the ``before_request`` hook,
one exchange through the transport, the redirect policy (a POST follows none; a GET follows a few,
only within the base URL's origin), the retry policy by class of failure with ``Retry-After``
honoured, and the answer decoded to JSON or turned into the :class:`~notifykit_exotel.errors.
ExotelError` its status calls for. Every URL and message it shows is scrubbed of the secrets,
and so is the cause an error chains. The verbs and their parsers (:mod:`.parsers`) are the
client's; this module knows no Exotel resource.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from . import __version__
from .errors import ExotelError, error_for_response
from .retry import Limiter, RetryPolicy

if TYPE_CHECKING:  # the HTTP stack is imported on the first request: building a client is cheap
    import requests

    from .transport import Transport


def __getattr__(name: str) -> Any:
    # ``retry_after`` (notifykit.http's) was imported here: it still is, on first use, so that
    # building a client (a dry run) does not import the HTTP layer.
    if name == "retry_after":
        from notifykit.http import retry_after

        return retry_after
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger("notifykit_exotel")

#: Redirects a GET may follow, all within the base URL's origin. POSTs follow none.
MAX_REDIRECTS = 5
_BODY_SHOWN = 500

_T = TypeVar("_T")


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


class ClientBase:
    """The request layer of one Exotel account: credentials, transport, request loop.

    Its arguments arrive validated (see :mod:`._validate`). ``rate_limiter``, ``retry`` and
    ``before_request`` are plain attributes read at each request, so they may be replaced on a
    live client (the CLI wraps the limiter to show its waits).
    """

    def __init__(
        self,
        *,
        sid: str,
        api_key: str,
        token: str,
        base_url: str,
        timeout: float | tuple[float, float],
        session: requests.Session | None,
        retry: RetryPolicy,
        rate_limiter: Limiter | None,
        before_request: Callable[[Sequence[str]], None] | None,
    ) -> None:
        self.sid = sid
        self.api_key = api_key
        self._token = token
        self._secrets = _secret_forms(sid, api_key, token)
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry
        self.rate_limiter = rate_limiter
        self.before_request = before_request
        self._own_session = session is None
        self._given_session = session
        # The transport (and urllib3, ~40 ms of imports) is made on the first request, so a
        # client that never sends (a dry run) costs nothing.
        self._transport_made: Transport | None = None
        self._transport_lock = threading.Lock()
        self._prefix = f"{base_url}/v1/Accounts/{quote(sid, safe='')}/"
        if self._scrub(base_url) != base_url:
            _URLLIB3_SCRUB.add(self)  # urllib3 logs each request's path at DEBUG

    # -- transport -------------------------------------------------------------------------------

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
        from .transport import SessionTransport, Urllib3Transport

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

    # -- secrets -----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` without the token, the API key (when it is not the SID) or the Basic header.

        The token can sit in a base URL's path (a proxy that routes by it), so every URL and
        message this client logs or puts in an error goes through here.
        """
        for secret in getattr(self, "_secrets", ()):
            text = text.replace(secret, "<redacted>")
        return text

    def _url(self, path: str) -> str:
        return self._hidden(self._prefix + path)

    def _hidden(self, url: str) -> str:
        return _Url(url, self._scrub(url))

    def _shown(self, url: str) -> str:
        return self._scrub(_redact_path(url))

    # -- the request loop --------------------------------------------------------------------------

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
        from .transport import NoAnswer  # imported with the transport just made

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

    # -- answers -----------------------------------------------------------------------------------

    def _answer(
        self, method: str, url: str, status: int, headers: Mapping[str, str], text: str
    ) -> _Answer | ExotelError:
        if 200 <= status < 300:
            try:
                return _Answer(json.loads(text), status, text)
            except (ValueError, RecursionError) as err:  # not JSON, or nested too deep to parse
                return self._unreadable(method, url, status, text, err)
        from notifykit.http import retry_after

        return error_for_response(
            status,
            self._scrub(text),
            method=method,
            url=self._shown(url),
            retry_after=retry_after(headers.get("Retry-After")),
        )

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
        from .transport import scrubbed_cause

        problem.__cause__ = scrubbed_cause(err, self._scrub)
        problem.__suppress_context__ = True
        return problem

    # -- where a request may go --------------------------------------------------------------------

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


# -- module helpers ------------------------------------------------------------------------------


class _ScrubFilter(logging.Filter):
    """Scrubs the secrets of clients whose base URL holds one from urllib3's DEBUG lines.

    urllib3 logs ``"POST /<path> HTTP/1.1" 200`` for every request; with a token in the base
    URL's path (a proxy that routes by it) that line would print the token. Clients register
    only in that case, and weakly: the filter keeps no secret of its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self._clients: weakref.WeakSet[ClientBase] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, client: ClientBase) -> None:
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


def _secret_forms(sid: str, api_key: str, token: str) -> tuple[str, ...]:
    """Every spelling of the credentials that could end up in a URL, a message or a header."""
    basic = base64.b64encode(f"{api_key}:{token}".encode("latin-1")).decode("ascii")
    secrets = {token, quote(token, safe=""), basic}
    if api_key != sid:  # the legacy scheme uses the SID, which is in every URL and not secret
        secrets |= {api_key, quote(api_key, safe="")}
    return tuple(sorted(secrets, key=len, reverse=True))


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
