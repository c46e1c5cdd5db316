"""notifykit.http, the HTTP layer channel plugins share: one exchange over a real socket, and the
judgement of a request that got no answer (``reached``: may it have reached the server?)."""

from __future__ import annotations

import pickle
import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from notifykit import http
from tests.exotel.rawserver import HANG, answer, raw_server

SECRET = "s3cr3t-h34d3r-v4lu3"


def _scrub(text: str) -> str:
    return text.replace(SECRET, "***")


def _pool(url: str, timeout: float = 2.0) -> http.HttpPool:
    return http.HttpPool(url, headers={"X-Token": SECRET}, timeout=timeout, scrub=_scrub)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_answer_comes_back_with_its_status_headers_and_text() -> None:
    with raw_server(answer(201, {"id": "r-1"}, headers={"X-Request-Id": "abc"})) as server:
        pool = _pool(server.base_url)
        try:
            status, headers, text = pool.exchange(
                "POST", server.base_url + "/hook", body=b'{"a": 1}', headers={"X-A": "1"}
            )
        finally:
            pool.close()
        (request,) = server.requests
    assert (status, headers.get("x-request-id"), text) == (201, "abc", '{"id": "r-1"}')
    assert request.body == b'{"a": 1}'
    assert request.headers["x-a"] == "1"
    assert "x-token" not in request.headers  # the request's headers replace the pool's


def test_the_pool_headers_go_with_a_request_that_gives_none() -> None:
    with raw_server(answer(200, {})) as server:
        pool = _pool(server.base_url)
        try:
            pool.exchange("GET", server.base_url + "/")
        finally:
            pool.close()
        assert server.requests[0].headers["x-token"] == SECRET


def test_max_body_reads_no_more_of_the_answer_than_asked() -> None:
    big = b"x" * (1024 * 1024)
    with raw_server(answer(200, big, content_type="text/plain")) as server:
        pool = _pool(server.base_url)
        try:
            status, _headers, text = pool.exchange("POST", server.base_url + "/", max_body=1000)
            # the connection that was left unread is not used again: the next request works
            again = pool.exchange("POST", server.base_url + "/", max_body=10 * 1024 * 1024)
        finally:
            pool.close()
    assert (status, len(text)) == (200, 1000)
    assert len(again[2]) == len(big)


def test_a_refused_connection_certainly_did_not_reach_the_server() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    pool = _pool(url)
    try:
        with pytest.raises(http.NoAnswer) as info:
            pool.exchange("POST", url, body=b"{}")
    finally:
        pool.close()
    failure = info.value
    assert (failure.kind, failure.reached) == ("connection", False)
    assert "Connection refused" in failure.reason
    assert failure.__cause__ is failure.cause and failure.cause is not None


def test_an_answer_that_never_comes_may_have_been_processed() -> None:
    with raw_server(HANG) as server:
        pool = _pool(server.base_url, timeout=0.3)
        started = time.monotonic()
        try:
            with pytest.raises(http.NoAnswer) as info:
                pool.exchange("POST", server.base_url + "/", body=b"{}")
        finally:
            pool.close()
        assert len(server.requests) == 1  # it did arrive
    assert time.monotonic() - started < 5
    assert (info.value.kind, info.value.reached) == ("timeout", True)


def test_a_connection_dropped_after_the_request_may_have_been_processed() -> None:
    with raw_server(None) as server:  # reads the request, closes without a word
        pool = _pool(server.base_url)
        try:
            with pytest.raises(http.NoAnswer) as info:
                pool.exchange("POST", server.base_url + "/", body=b"{}")
        finally:
            pool.close()
    assert (info.value.kind, info.value.reached) == ("connection", True)


def test_no_header_value_of_the_request_is_in_the_failure() -> None:
    # The exceptions urllib3 raises hold the connection and its request's headers: the failure
    # carries a scrubbed stand-in, with no connection, pool or request.
    with raw_server(None) as server:
        pool = _pool(server.base_url)
        try:
            with pytest.raises(http.NoAnswer) as info:
                pool.exchange("POST", server.base_url + "/?token=" + SECRET, body=b"{}")
        finally:
            pool.close()
    failure = info.value
    shown = [str(failure), repr(failure), str(failure.cause), repr(failure.cause)]
    assert all(SECRET not in text for text in shown), shown
    for attribute in ("conn", "pool", "request", "response", "url"):
        assert getattr(failure.cause, attribute, None) is None


def test_a_failure_pickles_with_what_it_says() -> None:
    failure = http.NoAnswer(
        "timeout", "read timed out", reached=True, cause=http.ScrubbedCause("X", "y")
    )
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.kind, copy.reason, copy.reached, str(copy.cause)) == (
        "timeout",
        "read timed out",
        True,
        "X: y",
    )


@pytest.mark.parametrize(
    ("kind", "reached", "said"),
    [
        ("connection", False, "could not connect to Acme (why ***)"),
        ("connect-timeout", False, "could not connect to Acme (why ***)"),
        ("timeout", True, "Acme did not answer within 2.5s (why ***)"),
        ("connection", True, "the connection to Acme failed after the request (why ***)"),
        ("error", True, "the request to Acme failed (why ***)"),
    ],
)
def test_a_failure_says_what_happened_scrubbed(
    kind: http.FailureKind, reached: bool, said: str
) -> None:
    failure = http.NoAnswer(kind, f"why {SECRET}", reached=reached)
    assert failure.explain("Acme", 2.5, _scrub) == said


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_reads_seconds(value: str | None, expected: float | None) -> None:
    assert http.retry_after(value) == expected


def test_retry_after_reads_an_http_date() -> None:
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = http.retry_after(format_datetime(later, usegmt=True))
    assert seconds is not None and 25 <= seconds <= 31


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com"),
        ("https://u:pw@example.com:8443/a?sig=abc#f", "https://example.com:8443"),
        ("http://[::1]:9000/hook", "http://[::1]:9000"),
        ("not a url", ""),
        ("http://host:notaport/", ""),
    ],
)
def test_origin_shows_no_path_query_or_user(url: str, shown: str) -> None:
    assert http.origin(url) == shown
