"""How :class:`~notifykit_exotel.ExotelClient` exchanges one HTTP request for one answer.

One small interface, :class:`Transport`, with two implementations:

* :class:`Urllib3Transport`, the client's own: notifykit's shared HTTP pool
  (:class:`notifykit.http.HttpPool`: a urllib3 connection pool, thread-safe, kept alive, 16
  connections, no retries and no redirects of its own, the environment's proxy and CA settings
  read once) with the client's Basic auth and form bodies. requests is a layer of Python over
  urllib3 that costs about 0.45 ms a request on loopback; the client needs none of what it adds.
* :class:`SessionTransport`, for a ``requests.Session`` passed in as ``session=``: used through
  requests exactly as given (mounted adapters, proxies, client certificates).

Both return ``(status, headers, text)`` for any HTTP answer and raise :class:`NoAnswer` when
there was none, with the failure already classified (by :mod:`notifykit.http`, then named in
Exotel's terms here): a request that was provably never written (refused, DNS, connect timeout,
certificate rejected in the handshake) may be retried even for a POST; anything after it may have
been written may have reached Exotel (``maybe_sent``). The exceptions of urllib3 and requests
never leave this module as themselves: they hold the request with its ``Authorization`` header
and frames with the credentials, so the error chains a scrubbed stand-in (:func:`scrubbed_cause`).

The provider-neutral parts (the pool, proxies, TLS, the classification, :func:`never_connected`,
:func:`scrubbed_cause`, :func:`encode_form_body`, :func:`environ_proxy`) live in
:mod:`notifykit.http` and are re-exported here under their old names.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from notifykit import http
from notifykit.http import (
    Reply,
    Scrub,
    encode_form_body,
    environ_proxy,
    never_connected,
    scrubbed_cause,
)

from .errors import ExotelConnectionError, ExotelError, ExotelTimeoutError

if TYPE_CHECKING:  # imported when the first request is made, never before
    import requests

__all__ = [
    "NoAnswer",
    "Reply",
    "SessionTransport",
    "Transport",
    "Urllib3Transport",
    "encode_form_body",
    "environ_proxy",
    "never_connected",
    "requests_error",
    "scrubbed_cause",
    "urllib3_error",
]


class NoAnswer(Exception):
    """No HTTP answer: ``error`` is the classified :class:`ExotelError` (its ``__cause__`` a
    scrubbed stand-in for what the HTTP library raised) and ``reached`` says whether the request
    may have reached the server (``False`` only when it was provably never written)."""

    def __init__(self, error: ExotelError, reached: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.reached = reached


class Transport(Protocol):
    """One HTTP exchange, no retries, no redirects followed."""

    def exchange(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, str] | None,
        form: list[tuple[str, str]] | None,
    ) -> Reply:
        """Send ``method url`` (``params`` in the query, ``form`` urlencoded in the body) and
        return the answer, or raise :class:`NoAnswer`. ``shown`` is the URL as errors show it."""
        ...  # pragma: no cover

    def close(self) -> None:
        """Close the connections this transport opened (a given session stays open)."""
        ...  # pragma: no cover


# -- the client's own transport: notifykit's urllib3 pool ---------------------------------------


class Urllib3Transport:
    """The shared HTTP pool for one base URL, with the client's headers; see the module
    docstring.

    Made on the client's first request (importing urllib3 costs ~40 ms, which a dry run never
    pays). The environment as it is then holds for the transport's life (see
    :class:`notifykit.http.HttpPool`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        token: str,
        timeout: float | tuple[float, float],
        user_agent: str,
        scrub: Scrub,
    ) -> None:
        basic = base64.b64encode(f"{api_key}:{token}".encode("latin-1")).decode("ascii")
        self._headers = {
            "User-Agent": user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/json",
            "Connection": "keep-alive",
            "Authorization": f"Basic {basic}",
        }
        self._form_headers = {
            **self._headers,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            self._pool = http.HttpPool(
                base_url, headers=self._headers, timeout=timeout, scrub=scrub, name="Exotel"
            )
        except http.UnsupportedProxyError as err:
            from .errors import InsufficientParametersError

            raise InsufficientParametersError(str(err)) from None
        #: the proxy in use, without its credentials (None: a direct connection)
        self.proxy = self._pool.proxy

    def exchange(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, str] | None,
        form: list[tuple[str, str]] | None,
    ) -> Reply:
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{encode_form_body(params.items())}"
        body = None if form is None else encode_form_body(form).encode("ascii")
        headers = self._headers if body is None else self._form_headers
        try:
            return self._pool.exchange(method, url, body=body, headers=headers)
        except http.NoAnswer as failed:
            no_answer = failed
        # Named outside the except block, so nothing is chained as __context__.
        error, reached = exotel_error(no_answer, method, shown)
        raise NoAnswer(error, reached)

    def close(self) -> None:
        self._pool.close()


# -- a session passed in: requests ------------------------------------------------------------


class SessionTransport:
    """A ``requests.Session`` given as ``session=``, used as it is: its adapters, proxies,
    certificates and headers apply, and the client only adds Basic auth."""

    def __init__(
        self, session: requests.Session, *, api_key: str, token: str, timeout: Any, scrub: Scrub
    ) -> None:
        self._session = session
        self._auth = (api_key, token)
        self._timeout = timeout
        self._scrub = scrub

    def exchange(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, str] | None,
        form: list[tuple[str, str]] | None,
    ) -> Reply:
        import requests

        post = method.upper() == "POST"
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=form,
                auth=self._auth,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as err:
            error, reached = requests_error(err, method, shown, self._scrub)
            cause = scrubbed_cause(err, self._scrub)
        except Exception as err:  # a custom session or adapter: the request's fate is unknown
            error = ExotelConnectionError(
                f"request failed: {type(err).__name__}", method=method, url=shown, maybe_sent=post
            )
            reached, cause = True, scrubbed_cause(err, self._scrub)
        else:
            return response.status_code, response.headers, response.text
        # Set outside the except blocks, so nothing is chained as __context__ either.
        error.__cause__ = cause
        error.__suppress_context__ = True
        raise NoAnswer(error, reached)

    def close(self) -> None:
        pass  # the caller's session: the caller closes it


# -- classifying failures ---------------------------------------------------------------------


def exotel_error(failure: http.NoAnswer, method: str, url: str) -> tuple[ExotelError, bool]:
    """A request with no HTTP answer (classified by :mod:`notifykit.http`) as Exotel's error and
    ``reached_server``, with the failure's scrubbed stand-in as the error's cause."""
    post = method.upper() == "POST"
    reason, reached = failure.reason, failure.reached
    error: ExotelError
    if failure.kind == "connect-timeout":
        error = ExotelTimeoutError(
            f"timed out connecting to Exotel: {reason}", method=method, url=url
        )
    elif failure.kind == "timeout":
        error = ExotelTimeoutError(
            f"Exotel did not answer in time ({reason})", method=method, url=url, maybe_sent=post
        )
    elif failure.kind == "connection":
        error = ExotelConnectionError(
            f"connection to Exotel failed: {reason}",
            method=method,
            url=url,
            maybe_sent=reached and post,
        )
    else:
        error = ExotelConnectionError(
            f"request failed: {reason}", method=method, url=url, maybe_sent=post
        )
    error.__cause__ = failure.cause
    error.__suppress_context__ = True
    return error, reached


def urllib3_error(
    err: BaseException, method: str, url: str, scrub: Scrub
) -> tuple[ExotelError, bool]:
    """Map what urllib3 raised (no HTTP answer) to ``(error, reached_server)``, with a scrubbed
    stand-in of ``err`` as the error's cause (the rules: :func:`notifykit.http.urllib3_failure`).
    """
    return exotel_error(http.urllib3_failure(err, scrub), method, url)


def requests_error(
    err: requests.exceptions.RequestException, method: str, url: str, scrub: Scrub
) -> tuple[ExotelError, bool]:
    """Map a requests failure with no HTTP answer to ``(error, reached_server)``, by the same
    rules as :func:`urllib3_error`."""
    return exotel_error(http.requests_failure(err, scrub), method, url)
