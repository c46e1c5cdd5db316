"""How :class:`~notifykit_exotel.ExotelClient` exchanges one HTTP request for one answer.

One small interface, :class:`Transport`, with two implementations:

* :class:`Urllib3Transport`, the client's own: a urllib3 connection pool (thread-safe, kept
  alive, 16 connections), no retries and no redirects of its own (the client decides both), the
  environment's proxy and CA settings read once. requests is a layer of Python over urllib3 that
  costs about 0.45 ms a request on loopback; the client needs none of what it adds.
* :class:`SessionTransport`, for a ``requests.Session`` passed in as ``session=``: used through
  requests exactly as given (mounted adapters, proxies, client certificates).

Both return ``(status, headers, text)`` for any HTTP answer and raise :class:`NoAnswer` when
there was none, with the failure already classified: a request that was provably never written
(refused, DNS, connect timeout, certificate rejected in the handshake) may be retried even for a
POST; anything after it may have been written may have reached Exotel (``maybe_sent``). The
exceptions of urllib3 and requests never leave this module as themselves: they hold the request
with its ``Authorization`` header and frames with the credentials, so the error chains a
scrubbed stand-in (:func:`scrubbed_cause`).
"""

from __future__ import annotations

import base64
import functools
import os
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote_plus, unquote, urlsplit

from .errors import ExotelConnectionError, ExotelError, ExotelTimeoutError, ScrubbedCause

if TYPE_CHECKING:  # both are imported when the first request is made, never before
    import requests
    import urllib3

__all__ = [
    "NoAnswer",
    "Reply",
    "SessionTransport",
    "Transport",
    "Urllib3Transport",
    "encode_form_body",
    "environ_proxy",
    "scrubbed_cause",
]

#: ``(status, headers, text)``: any HTTP answer, 1xx to 5xx. ``headers.get`` ignores case.
Reply = tuple[int, Mapping[str, str], str]
Scrub = Callable[[str], str]


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


# -- the client's own transport: urllib3 ------------------------------------------------------


class Urllib3Transport:
    """A urllib3 pool for one base URL; see the module docstring.

    Made on the client's first request (importing urllib3 costs ~40 ms, which a dry run never
    pays). The environment as it is then holds for the transport's life: the proxy
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` give for the base URL (as requests
    reads them) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``,
    else certifi's), loaded once into one TLS context for every connection.
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
        import urllib3

        self._scrub = scrub
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._timeout = urllib3.Timeout(connect=connect, read=read)
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
        proxy = environ_proxy(base_url)
        pool_options: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": 16,  # a few threads sending at once through one client
            "block": False,  # more threads than that get a connection of their own, not a wait
            "retries": False,
            "timeout": self._timeout,
        }
        parts = urlsplit(base_url)
        if parts.scheme == "https" or (proxy or "").startswith("https:"):
            pool_options["ssl_context"] = _tls_context()
        self._manager: urllib3.PoolManager
        if proxy is None:
            self._manager = urllib3.PoolManager(**pool_options)
            self._manager.pool_classes_by_scheme = _one_write_pools()
            # One origin: skip the manager's per-request URL parsing and pool lookup. Redirects
            # the client follows stay within this origin (anything else goes through urlopen).
            self._pool: urllib3.HTTPConnectionPool | None = self._manager.connection_from_url(
                base_url
            )
            self._origin = f"{parts.scheme}://{parts.netloc}"
        else:
            self._manager = _proxy_manager(proxy, pool_options)
            self._pool = None
            self._origin = ""
        self._origin_path = self._origin + "/"  # the origin, and not a longer port or host
        if proxy is not None:
            self._scrub = _scrubbing_proxy_secrets(scrub, proxy)
        #: the proxy in use, without its credentials (None: a direct connection)
        self.proxy = None if proxy is None else _without_credentials(proxy)

    def exchange(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, str] | None,
        form: list[tuple[str, str]] | None,
    ) -> Reply:
        import urllib3.exceptions

        if params:
            url = f"{url}{'&' if '?' in url else '?'}{encode_form_body(params.items())}"
        body = None if form is None else encode_form_body(form).encode("ascii")
        headers = self._headers if body is None else self._form_headers
        try:
            if self._pool is not None and url.startswith(self._origin_path):
                response = self._pool.urlopen(
                    method,
                    url[len(self._origin) :],
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    timeout=self._timeout,
                    preload_content=True,
                )
            else:
                response = self._manager.urlopen(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    timeout=self._timeout,
                    preload_content=True,
                )
        except (urllib3.exceptions.HTTPError, OSError) as err:
            failure: BaseException = err
        except Exception as err:  # an encoding or URL problem: its fate is unknown, so unknown
            failure = err
        else:
            content_type = response.headers.get("Content-Type")
            return response.status, response.headers, _text(response.data, content_type)
        # Classified outside the except blocks, so nothing is chained as __context__.
        error, reached = urllib3_error(failure, method, shown, self._scrub)
        raise NoAnswer(error, reached)

    def close(self) -> None:
        self._manager.clear()


def _without_credentials(proxy: str) -> str:
    parts = urlsplit(proxy)
    if parts.username is None and parts.password is None:
        return proxy
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"***@{host}").geturl()


def _scrubbing_proxy_secrets(scrub: Scrub, proxy: str) -> Scrub:
    """``scrub``, and also the proxy's password and its ``Proxy-Authorization`` value, as they
    are written in the URL and decoded, out of any text an error shows."""
    parts = urlsplit(proxy)
    if parts.password is None:
        return scrub
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
    secrets = {
        parts.password,
        unquote(parts.password),
        base64.b64encode(pair.encode("latin-1")).decode("ascii"),
    }
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def scrubbed(text: str) -> str:
        text = scrub(text)
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    return scrubbed


def _tls_context() -> Any:
    """One TLS context for every connection, with the CA bundle loaded once (urllib3 loads a
    ``ca_certs`` file again for each new connection: ~10 ms for certifi's)."""
    from urllib3.util.ssl_ import create_urllib3_context

    bundle = (
        os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or os.environ.get("SSL_CERT_FILE")
    )
    if not bundle:
        import certifi

        bundle = certifi.where()
    context = create_urllib3_context()  # certificates and host names verified, TLS 1.2 or later
    if os.path.isdir(bundle):
        context.load_verify_locations(capath=bundle)
    else:
        context.load_verify_locations(cafile=bundle)
    return context


def _proxy_manager(proxy: str, pool_options: dict[str, Any]) -> Any:
    """A urllib3 proxy manager for ``proxy``, with its ``user:password@`` as a
    ``Proxy-Authorization`` header, as requests sends it."""
    import urllib3

    parts = urlsplit(proxy)
    headers: dict[str, str] = {}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode("latin-1")).decode(
            "ascii"
        )
    if parts.scheme.lower().startswith("socks"):
        import importlib.util

        if importlib.util.find_spec("socks") is None:  # PySocks, which urllib3's SOCKS needs
            from .errors import InsufficientParametersError

            raise InsufficientParametersError(
                f"the environment's proxy for Exotel is a SOCKS proxy ({parts.scheme}://), which "
                "needs PySocks: pip install 'urllib3[socks]', or unset ALL_PROXY/HTTPS_PROXY"
            )
        from urllib3.contrib.socks import SOCKSProxyManager

        options = {k: v for k, v in pool_options.items() if k != "ssl_context"}
        return SOCKSProxyManager(proxy, **options)
    manager = urllib3.ProxyManager(proxy, proxy_headers=headers, **pool_options)
    manager.pool_classes_by_scheme = _one_write_pools()
    return manager


#: The largest body sent in the same write as the request's header block.
_ONE_WRITE_MAX = 64 * 1024


@functools.cache
def _one_write_pools() -> dict[str, Any]:
    """urllib3's pools, with connections that write a request's header block and its body in
    one ``send`` (as ``http.client`` does for a body given to ``endheaders``).

    urllib3 writes them separately: two system calls and, on loopback, two wake-ups of the
    server for one request (about 0.1 ms of a 0.6 ms exchange on a busy 2-core machine).
    """
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class OneWrite:
        _hold = False
        _held: bytes | None = None

        def request(self, method: str, url: str, body: Any = None, *a: Any, **kw: Any) -> None:
            # The next send() is the header block: hold it for the body's (only) chunk.
            self._hold = isinstance(body, bytes) and 0 < len(body) <= _ONE_WRITE_MAX
            try:
                super().request(method, url, body, *a, **kw)  # type: ignore[misc]
            finally:
                self._hold, held, self._held = False, self._held, None
            if held is not None:  # no body chunk came after all
                super().send(held)  # type: ignore[misc]

        def send(self, data: Any) -> None:
            if self._hold:
                self._hold, self._held = False, bytes(data)
                return
            held = self._held
            if held is not None:
                self._held = None
                data = held + data
            super().send(data)  # type: ignore[misc]

    class OneWriteHTTP(OneWrite, HTTPConnection):
        pass

    class OneWriteHTTPS(OneWrite, HTTPSConnection):
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = OneWriteHTTP

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = OneWriteHTTPS

    return {"http": Pool, "https": TlsPool}


def environ_proxy(url: str) -> str | None:
    """The proxy the environment gives for ``url``, or ``None`` for a direct connection, chosen
    by requests' own functions (``get_environ_proxies``: ``NO_PROXY`` with hosts, domains and
    CIDR networks, then ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``; ``select_proxy``), so a
    proxy setting means what it means to requests. A proxy without a scheme is ``http://``.
    Called once per client, at its first request (requests is imported then)."""
    import requests.utils

    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _text(data: bytes, content_type: str | None) -> str:
    """The body as text: the charset the answer names, else UTF-8 (JSON's only encoding); bytes
    that do not decode are replaced, never raised on (the body may be a proxy's page)."""
    charset = "utf-8"
    if content_type and "charset=" in content_type.lower():
        for param in content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip(" \"'"):
                charset = value.strip(" \"'")
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", errors="replace")


# ``urlencode(pairs)`` for ASCII text in one C call: unreserved characters as they are, a space
# as "+", anything else %XX (what quote_plus does; non-ASCII text still goes through it).
_UNRESERVED = string.ascii_letters + string.digits + "_.-~"
_FORM_QUOTE = {
    c: chr(c) if chr(c) in _UNRESERVED else "+" if c == 0x20 else f"%{c:02X}" for c in range(128)
}


def _quote(text: str) -> str:
    return text.translate(_FORM_QUOTE) if text.isascii() else quote_plus(text)


def encode_form_body(pairs: Any) -> str:
    """``application/x-www-form-urlencoded`` text of ``(name, value)`` string pairs, in order:
    exactly ``urllib.parse.urlencode(pairs)`` (and what requests sends for ``data=pairs``)."""
    return "&".join(f"{_quote(name)}={_quote(value)}" for name, value in pairs)


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


def urllib3_error(
    err: BaseException, method: str, url: str, scrub: Scrub
) -> tuple[ExotelError, bool]:
    """Map what urllib3 raised (no HTTP answer) to ``(error, reached_server)``, with a scrubbed
    stand-in of ``err`` as the error's cause.

    Never written: a refused connection or failed DNS lookup (``NewConnectionError``), a connect
    timeout (``ConnectTimeoutError``), a certificate rejected in the handshake (``SSLError``
    from ``SSLCertVerificationError``), a proxy never reached (``ProxyError``) or a proxy's
    refused ``CONNECT`` tunnel. Anything else (a read timeout, a reset, a garbled answer, a
    ``ProtocolError``) may come after Exotel has the request, so a POST may have gone out.
    """
    import urllib3.exceptions as u3

    post = method.upper() == "POST"
    reason = scrub(_reason(err))
    error: ExotelError
    if isinstance(err, u3.ConnectTimeoutError) and not isinstance(err, u3.NewConnectionError):
        error, reached = (
            ExotelTimeoutError(f"timed out connecting to Exotel: {reason}", method=method, url=url),
            False,
        )
    elif isinstance(err, (u3.TimeoutError, TimeoutError)) and not isinstance(
        err,
        u3.NewConnectionError,  # a subclass of ConnectTimeoutError, for history's sake
    ):
        error, reached = (
            ExotelTimeoutError(
                f"Exotel did not answer in time ({reason})",
                method=method,
                url=url,
                maybe_sent=post,
            ),
            True,
        )
    elif isinstance(err, (u3.HTTPError, OSError)):
        reached = not never_connected(err)
        error = ExotelConnectionError(
            f"connection to Exotel failed: {reason}",
            method=method,
            url=url,
            maybe_sent=reached and post,
        )
    else:
        error, reached = (
            ExotelConnectionError(
                f"request failed: {type(err).__name__}", method=method, url=url, maybe_sent=post
            ),
            True,
        )
    error.__cause__ = scrubbed_cause(err, scrub)
    error.__suppress_context__ = True
    return error, reached


def requests_error(
    err: requests.exceptions.RequestException, method: str, url: str, scrub: Scrub
) -> tuple[ExotelError, bool]:
    """Map a requests failure with no HTTP answer to ``(error, reached_server)``, by the same
    rules as :func:`urllib3_error`."""
    import requests

    post = method.upper() == "POST"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return ExotelTimeoutError(
            f"timed out connecting to Exotel: {scrub(_reason(err))}", method=method, url=url
        ), False
    if isinstance(err, requests.exceptions.Timeout):
        return ExotelTimeoutError(
            f"Exotel did not answer in time ({scrub(_reason(err))})",
            method=method,
            url=url,
            maybe_sent=post,
        ), True
    if isinstance(err, requests.exceptions.ConnectionError):
        reached = not never_connected(err)
        return ExotelConnectionError(
            f"connection to Exotel failed: {scrub(_reason(err))}",
            method=method,
            url=url,
            maybe_sent=reached and post,
        ), reached
    return ExotelConnectionError(
        f"request failed: {scrub(_reason(err))}", method=method, url=url, maybe_sent=post
    ), True


def never_connected(err: BaseException) -> bool:
    """True when the connection was never established (refused, DNS failure, a connect
    timeout, the server's certificate rejected in the TLS handshake, a proxy that refused the
    tunnel): nothing was sent."""
    import ssl

    import urllib3.exceptions as u3

    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            (
                u3.NewConnectionError,  # refused, unreachable, DNS (NameResolutionError)
                ConnectionRefusedError,
                ssl.SSLCertVerificationError,
            ),
        ) or (
            isinstance(current, u3.ConnectTimeoutError)
            and not isinstance(current, u3.NewConnectionError)
        ):
            return True
        # http.client's CONNECT to a proxy failed (403, 407...): the tunnel to Exotel never
        # opened, so the request was never written to it.
        if type(current) is OSError and str(current).startswith("Tunnel connection failed"):
            return True
        if isinstance(current, u3.MaxRetryError):
            stack.append(current.reason)
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return False


def _reason(err: BaseException) -> str:
    # The libraries' messages embed the URL; keep only the root cause's class and text.
    from urllib3.exceptions import ReadTimeoutError

    root: BaseException = err
    # A read timeout's own text names the timeout; its cause only says "timed out".
    while not isinstance(root, ReadTimeoutError):
        nxt = getattr(root, "reason", None) or root.__cause__
        if not isinstance(nxt, BaseException) or nxt is root:
            break
        root = nxt
    text = str(root)
    if "://" in text:
        text = type(root).__name__
    return text or type(root).__name__


#: What urllib3's and requests' exceptions keep besides their message: the connection or pool
#: (with the request's headers), the URL, the request and response, the underlying error.
_STATE = ("request", "response", "conn", "pool", "url", "reason", "original_error")


def scrubbed_cause(err: BaseException, scrub: Scrub) -> BaseException:
    """A stand-in for ``err`` that keeps its type and message and nothing else.

    requests' exceptions hold the prepared request (whose headers carry ``Authorization:
    Basic ...``), urllib3's the connection or pool, and the frames of their tracebacks hold the
    credentials; a traceback renderer that shows locals (Sentry, rich, ``pytest -l``) would
    print them. The stand-in is the same class with the scrubbed message and no request,
    response, connection, traceback, cause or context; or a
    :class:`~notifykit_exotel.errors.ScrubbedCause` when the class cannot be rebuilt.
    """
    text = scrub(str(err)) if str(err) else ""
    cls = type(err)
    state = vars(err)
    fresh: BaseException
    try:
        fresh = cls(text)
    except Exception:
        # urllib3's take (pool, url, message) or (conn, message): build one without __init__
        # and give it the state its pickling reads, emptied.
        try:
            fresh = cls.__new__(cls)
            fresh.args = (text,)
            for name in ("_message", "_host", "_reason"):
                if name in state:
                    setattr(fresh, name, text if name == "_message" else None)
        except Exception:
            fresh = ScrubbedCause(cls.__name__, text)
    if type(fresh) is not cls or str(fresh) != text:
        fresh = ScrubbedCause(cls.__name__, text)
    for attribute in _STATE:
        if attribute in state or (
            attribute in ("request", "response") and attribute in vars(fresh)
        ):
            setattr(fresh, attribute, None)
    return fresh
