"""The HTTP layer channel plugins share: one request out, one answer back, and when no answer came,
the one judgement that keeps a person from being paged twice: was the request *certainly not*
sent, or *may* it have reached the server?

* :class:`HttpPool` is a urllib3 connection pool for one base URL (thread-safe, kept alive, 16
  connections), with no retries and no redirects of its own (the caller decides both), the
  environment's proxy and CA settings read once, and each request's header block and body
  written in one ``send``. :meth:`HttpPool.exchange` returns ``(status, headers, text)`` for any
  HTTP answer and raises :class:`NoAnswer` when there was none.
* :class:`NoAnswer` says what happened (``kind``), why (``reason``, scrubbed) and whether the
  request may have reached the server (``reached``): ``False`` only when it was provably never
  written (a refused connection, a failed DNS lookup, a connect timeout, a certificate rejected
  in the TLS handshake, a proxy that refused the tunnel). A POST with ``reached=False`` may be
  sent again; one with ``reached=True`` may have been processed.
* :func:`urllib3_failure` and :func:`requests_failure` classify what those libraries raised, for
  code that calls them itself; :func:`never_connected` is the test underneath.
* :func:`scrub_urllib3_logs` keeps a URL's credentials out of urllib3's own DEBUG lines (it
  logs every request's path and query).
* Helpers: :func:`retry_after` reads a ``Retry-After`` header, :func:`origin` is what an error
  may show of a URL whose path or query holds a credential, :func:`encode_form_body` writes a
  form body as requests would.

The exceptions of urllib3 and requests never leave this module as themselves: they hold the
request with its headers (``Authorization``, a signature) and frames with the credentials, so the
failure chains a scrubbed stand-in (:func:`scrubbed_cause`). Every text a failure carries went
through the caller's ``scrub``.

This module imports nothing from notifykit, and urllib3 and requests only when a pool is made
or a failure classified (importing urllib3 costs ~40 ms, which a dry run never pays).
"""

from __future__ import annotations

import base64
import functools
import math
import os
import string
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote_plus, unquote, urlsplit

if TYPE_CHECKING:  # both are imported when the first request is made, never before
    import requests
    import urllib3

__all__ = [
    "FailureKind",
    "HttpPool",
    "NoAnswer",
    "Reply",
    "Scrub",
    "ScrubbedCause",
    "UnsupportedProxyError",
    "decode_text",
    "encode_form_body",
    "environ_proxy",
    "failure_reason",
    "never_connected",
    "one_write_pools",
    "origin",
    "proxy_manager",
    "requests_failure",
    "retry_after",
    "scrub_urllib3_logs",
    "scrubbed_cause",
    "scrubbing_proxy_secrets",
    "tls_context",
    "urllib3_failure",
    "without_credentials",
]

#: ``(status, headers, text)``: any HTTP answer, 1xx to 5xx. ``headers.get`` ignores case.
Reply = tuple[int, Mapping[str, str], str]
#: a function that takes the secrets out of a text (``***`` or ``<redacted>`` in their place)
Scrub = Callable[[str], str]

#: What happened to a request that got no answer (see :class:`NoAnswer`).
FailureKind = Literal["connect-timeout", "timeout", "connection", "error"]


class ScrubbedCause(Exception):
    """The ``__cause__`` of an error whose original cause could not be kept safely.

    A client never chains the exception requests (or a parser) raised: it holds the request
    with its ``Authorization`` header, and its traceback's frames hold the credentials. It
    chains the same class rebuilt from the (scrubbed) message instead, or, when that class
    cannot be built from a message alone, this: ``type_name`` and ``message`` of the original.
    """

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        self.message = message
        super().__init__(type_name, message)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


class NoAnswer(Exception):
    """No HTTP answer came.

    ``kind`` is what happened: ``"connect-timeout"`` (the connection was not established in
    time: never written), ``"timeout"`` (connected, but no answer in time: it may have been
    processed), ``"connection"`` (refused, reset, dropped, a DNS or TLS failure: ``reached``
    tells which) or ``"error"`` (anything else: an encoding or URL problem, a garbled answer).
    ``reason`` is the root cause's text, scrubbed, without the URL; ``reached`` is ``False``
    only when the request was provably never written. ``__cause__`` (and ``cause``) is a
    scrubbed stand-in for what the HTTP library raised (:func:`scrubbed_cause`).
    """

    def __init__(
        self, kind: FailureKind, reason: str, *, reached: bool, cause: BaseException | None = None
    ) -> None:
        super().__init__(reason)
        self.kind: FailureKind = kind
        self.reason = reason
        self.reached = reached
        self.cause = cause
        self.__cause__ = cause
        self.__suppress_context__ = True

    def explain(
        self, server: str, timeout: float, scrub: Callable[[str], str] | None = None
    ) -> str:
        """What happened, in words naming ``server`` (``timeout``: the seconds waited), the
        reason passed through ``scrub`` once more: ``could not connect to X (...)`` (never
        reached), ``X did not answer within 10s (...)``, ``the connection to X failed after the
        request (...)`` or ``the request to X failed (...)`` (it may have been processed)."""
        reason = scrub(self.reason) if scrub is not None else self.reason
        if not self.reached:
            return f"could not connect to {server} ({reason})"
        if self.kind == "timeout":
            return f"{server} did not answer within {timeout:g}s ({reason})"
        if self.kind == "connection":
            return f"the connection to {server} failed after the request ({reason})"
        return f"the request to {server} failed ({reason})"

    def __reduce__(self) -> Any:
        return (_rebuild_no_answer, (self.kind, self.reason, self.reached, self.cause))


def _rebuild_no_answer(
    kind: FailureKind, reason: str, reached: bool, cause: BaseException | None
) -> NoAnswer:
    return NoAnswer(kind, reason, reached=reached, cause=cause)


class UnsupportedProxyError(ValueError):
    """The environment names a proxy this installation cannot use (a SOCKS proxy without
    PySocks). Raised when a pool is made, before anything is sent."""


# -- a urllib3 pool ---------------------------------------------------------------------------


class HttpPool:
    """A urllib3 pool for one base URL; see the module docstring.

    ``headers`` go with every request that gives none of its own; ``timeout`` is seconds, or
    ``(connect, read)``; ``scrub`` takes the secrets out of every text a failure carries (the
    proxy's password and ``Proxy-Authorization`` value are added to it); ``name`` is what error
    messages call the server (``"the webhook at https://hooks.example.com"``).

    The environment as it is when the pool is made holds for its life: the proxy
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` give for the base URL (as requests
    reads them) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``,
    else certifi's), loaded once into one TLS context for every connection.

    :raises UnsupportedProxyError: the environment's proxy is a SOCKS proxy and PySocks is not
        installed.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float | tuple[float, float],
        scrub: Scrub,
        name: str = "the server",
    ) -> None:
        import urllib3

        self._scrub = scrub
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self._timeout = urllib3.Timeout(connect=connect, read=read)
        self._headers = dict(headers)
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
            pool_options["ssl_context"] = tls_context()
        self._manager: urllib3.PoolManager
        if proxy is None:
            self._manager = urllib3.PoolManager(**pool_options)
            self._manager.pool_classes_by_scheme = one_write_pools()
            # One origin: skip the manager's per-request URL parsing and pool lookup. Redirects
            # the caller follows stay within this origin (anything else goes through urlopen).
            self._pool: urllib3.HTTPConnectionPool | None = self._manager.connection_from_url(
                base_url
            )
            self._origin = f"{parts.scheme}://{parts.netloc}"
        else:
            self._manager = proxy_manager(proxy, pool_options, name=name)
            self._pool = None
            self._origin = ""
        self._origin_path = self._origin + "/"  # the origin, and not a longer port or host
        if proxy is not None:
            self._scrub = scrubbing_proxy_secrets(scrub, proxy)
        #: the proxy in use, without its credentials (None: a direct connection)
        self.proxy = None if proxy is None else without_credentials(proxy)

    def __repr__(self) -> str:
        return f"HttpPool(proxy={self.proxy!r})"

    def exchange(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int | None = None,
    ) -> Reply:
        """Send ``method url`` with ``body`` and ``headers`` (else the pool's) and return the
        answer, or raise :class:`NoAnswer`. ``max_body``: read at most this many bytes of the
        answer's body (the rest is never read, and its connection is closed); ``None`` reads
        it all."""
        import urllib3.exceptions

        if headers is None:
            headers = self._headers
        preload = max_body is None
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
                    preload_content=preload,
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
                    preload_content=preload,
                )
            data = response.data if preload else _bounded(response, max_body or 0)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            failure: BaseException = err
        except Exception as err:  # an encoding or URL problem: its fate is unknown, so unknown
            failure = err
        else:
            content_type = response.headers.get("Content-Type")
            return response.status, response.headers, decode_text(data, content_type)
        # Classified outside the except blocks, so nothing is chained as __context__.
        raise urllib3_failure(failure, self._scrub)

    def close(self) -> None:
        """Close the pool's connections (a request after it opens new ones)."""
        self._manager.clear()


def _bounded(response: Any, limit: int) -> bytes:
    """At most ``limit`` bytes of a streamed answer's body; its connection goes back to the pool
    when the body was read to its end, and is closed when more was left unread."""
    try:
        data: bytes = response.read(limit + 1, decode_content=True)
        if len(data) > limit:
            data = data[:limit]
            response.close()  # the rest is never read: this connection cannot be used again
    except BaseException:
        response.close()
        raise
    finally:
        response.release_conn()
    return data


def without_credentials(proxy: str) -> str:
    """``proxy`` with its ``user:password@`` shown as ``***@``."""
    parts = urlsplit(proxy)
    if parts.username is None and parts.password is None:
        return proxy
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"***@{host}").geturl()


def scrubbing_proxy_secrets(scrub: Scrub, proxy: str) -> Scrub:
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


def tls_context() -> Any:
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


def proxy_manager(proxy: str, pool_options: dict[str, Any], *, name: str = "the server") -> Any:
    """A urllib3 proxy manager for ``proxy``, with its ``user:password@`` as a
    ``Proxy-Authorization`` header, as requests sends it.

    :raises UnsupportedProxyError: a SOCKS proxy, and PySocks is not installed.
    """
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
            raise UnsupportedProxyError(
                f"the environment's proxy for {name} is a SOCKS proxy ({parts.scheme}://), which "
                "needs PySocks: pip install 'urllib3[socks]', or unset ALL_PROXY/HTTPS_PROXY"
            )
        from urllib3.contrib.socks import SOCKSProxyManager

        options = {k: v for k, v in pool_options.items() if k != "ssl_context"}
        return SOCKSProxyManager(proxy, **options)
    manager = urllib3.ProxyManager(proxy, proxy_headers=headers, **pool_options)
    manager.pool_classes_by_scheme = one_write_pools()
    return manager


#: The largest body sent in the same write as the request's header block.
ONE_WRITE_MAX = 64 * 1024


@functools.cache
def one_write_pools() -> dict[str, Any]:
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
            self._hold = isinstance(body, bytes) and 0 < len(body) <= ONE_WRITE_MAX
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
    Called once per pool, when it is made (requests is imported then)."""
    import requests.utils

    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def decode_text(data: bytes, content_type: str | None) -> str:
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


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds: delta-seconds, or an HTTP date (RFC 9110), never
    negative; ``None`` when there is none or it is neither."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils
        from datetime import datetime, timezone

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, without its user, path, query or fragment: what an
    error may show of a URL whose path or query is a credential (a chat webhook's); ``""`` for
    a URL without a scheme and host."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        return ""
    if not parts.scheme or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


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


# -- urllib3's own log lines -------------------------------------------------------------------


class Scrubbing(Protocol):
    """An object with a ``scrub(text)`` method (a channel, a client)."""

    def scrub(self, text: str) -> str: ...


_LOGGERS = ("urllib3.connectionpool", "urllib3.poolmanager")
_scrubbing: Any = None  # a WeakSet of Scrubbing objects, made on first use
_scrubbing_lock = threading.Lock()


def scrub_urllib3_logs(owner: Scrubbing) -> None:
    """Pass urllib3's own log lines through ``owner.scrub`` for as long as ``owner`` lives.

    urllib3 logs ``"POST /<path>?<query> HTTP/1.1" 200`` for every request at DEBUG: a URL
    whose path or query is a credential (a chat webhook's, a token a proxy routes by) would be
    printed by any application that logs urllib3 at DEBUG. ``owner`` is held weakly: this keeps
    no secret of its own."""
    global _scrubbing
    import logging
    import weakref

    with _scrubbing_lock:
        if _scrubbing is None:
            _scrubbing = weakref.WeakSet()
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_filter_urllib3_record)
        _scrubbing.add(owner)


def _filter_urllib3_record(record: Any) -> bool:
    with _scrubbing_lock:
        owners = list(_scrubbing or ())
    if owners:
        text = record.getMessage()
        scrubbed = text
        for owner in owners:
            scrubbed = owner.scrub(scrubbed)
        if scrubbed != text:
            record.msg, record.args = scrubbed, ()
    return True


# -- classifying failures ---------------------------------------------------------------------


def urllib3_failure(err: BaseException, scrub: Scrub) -> NoAnswer:
    """What urllib3 raised (no HTTP answer) as a :class:`NoAnswer`, with a scrubbed stand-in of
    ``err`` as its cause.

    Never written: a refused connection or failed DNS lookup (``NewConnectionError``), a connect
    timeout (``ConnectTimeoutError``), a certificate rejected in the handshake (``SSLError``
    from ``SSLCertVerificationError``), a proxy never reached (``ProxyError``) or a proxy's
    refused ``CONNECT`` tunnel. Anything else (a read timeout, a reset, a garbled answer, a
    ``ProtocolError``) may come after the server has the request, so a POST may have gone out.
    """
    import urllib3.exceptions as u3

    reason = scrub(failure_reason(err))
    cause = scrubbed_cause(err, scrub)
    if isinstance(err, u3.ConnectTimeoutError) and not isinstance(err, u3.NewConnectionError):
        return NoAnswer("connect-timeout", reason, reached=False, cause=cause)
    if isinstance(err, (u3.TimeoutError, TimeoutError)) and not isinstance(
        err,
        u3.NewConnectionError,  # a subclass of ConnectTimeoutError, for history's sake
    ):
        return NoAnswer("timeout", reason, reached=True, cause=cause)
    if isinstance(err, (u3.HTTPError, OSError)):
        return NoAnswer("connection", reason, reached=not never_connected(err), cause=cause)
    return NoAnswer("error", type(err).__name__, reached=True, cause=cause)


def requests_failure(err: requests.exceptions.RequestException, scrub: Scrub) -> NoAnswer:
    """A requests failure with no HTTP answer as a :class:`NoAnswer`, by the same rules as
    :func:`urllib3_failure`."""
    import requests

    reason = scrub(failure_reason(err))
    cause = scrubbed_cause(err, scrub)
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return NoAnswer("connect-timeout", reason, reached=False, cause=cause)
    if isinstance(err, requests.exceptions.Timeout):
        return NoAnswer("timeout", reason, reached=True, cause=cause)
    if isinstance(err, requests.exceptions.ConnectionError):
        return NoAnswer("connection", reason, reached=not never_connected(err), cause=cause)
    return NoAnswer("error", reason, reached=True, cause=cause)


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
        # http.client's CONNECT to a proxy failed (403, 407...): the tunnel to the server never
        # opened, so the request was never written to it.
        if type(current) is OSError and str(current).startswith("Tunnel connection failed"):
            return True
        if isinstance(current, u3.MaxRetryError):
            stack.append(current.reason)
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return False


def failure_reason(err: BaseException) -> str:
    """The root cause's class or text, without the URL the libraries' messages embed (not yet
    scrubbed)."""
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
    response, connection, traceback, cause or context; or a :class:`ScrubbedCause` when the
    class cannot be rebuilt.
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
