"""Errors, retries, timeouts, the rate limiter and secret hygiene, proven with injected faults."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
import urllib3

from notifykit_exotel import (
    AuthenticationError,
    ConflictError,
    DndBlockedError,
    ExotelClient,
    ExotelConnectionError,
    ExotelError,
    ExotelException,
    ExotelTimeoutError,
    InsufficientParametersError,
    KycRequiredError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimiter,
    RateLimitExceededError,
    RateLimitExceededException,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from notifykit_exotel.simulator import ExotelSimulator, Fault

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"
EXOPHONE = "08088919888"
TO = "+919876543210"


def send(client: ExotelClient) -> object:
    return client.send_sms("NKALRT", TO, "hello")


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (400, 40202, "Body invalid", ValidationError),
        (401, 34010, "Authentication failed", AuthenticationError),
        (402, None, "Payment Required", PaymentRequiredError),
        (403, 40002, "Account is not active", PermissionDeniedError),
        (403, 340030, "Your account is not yet KYC compliant", KycRequiredError),
        (
            403,
            None,
            "Call to [01234] cannot be made because of TRAI NDNC regulations",
            DndBlockedError,
        ),
        (404, None, "Not Found", NotFoundError),
        (409, None, "Conflict", ConflictError),
        (429, 40402, "Too Many Requests", RateLimitExceededError),
        (503, 40405, "Throttle limit", RateLimitExceededError),  # the SMS platform's throttle
        (500, 35000, "Internal Server Error", ServerError),
    ],
)
def test_each_status_raises_its_error_class(
    sim: ExotelSimulator,
    status: int,
    code: int | None,
    message: str,
    error: type[ExotelError],
) -> None:
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, retry=RetryPolicy.none()) as client:
        sim.inject(Fault(status=status, code=code, message=message), times=1)
        with pytest.raises(error) as info:
            send(client)
    assert type(info.value) is error
    assert isinstance(info.value, ExotelException)  # the seed's base name
    assert info.value.status == status
    assert info.value.code == code
    assert info.value.message == message
    assert info.value.method == "POST"
    assert info.value.url == f"/v1/Accounts/{SID}/Sms/send.json"
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert len(sim.requests) == 1
    if error is RateLimitExceededError:
        assert isinstance(info.value, RateLimitExceededException)


def test_non_json_error_body_parses_without_crashing(sim: ExotelSimulator) -> None:
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, retry=RetryPolicy.none()) as client:
        sim.inject(Fault(status=502, non_json=True), times=1)
        with pytest.raises(ServerError) as info:
            send(client)
    assert info.value.status == 502
    assert info.value.code is None
    assert "not an Exotel error" in info.value.message
    assert info.value.body  # the start of the HTML page, for diagnosis


def test_error_body_parser_reads_json_xml_and_junk() -> None:
    from notifykit_exotel.errors import error_for_response, parse_error_body

    assert parse_error_body(
        '{"RestException": {"Status": 400, "Message": "Bad", "Code": 40200}}'
    ) == (
        "Bad",
        40200,
    )
    xml = (
        "<TwilioResponse><RestException><Status>403</Status><Message>Call to [01234] cannot be made "
        "because of TRAI NDNC regulations</Message></RestException></TwilioResponse>"
    )
    assert parse_error_body(xml) == (
        "Call to [01234] cannot be made because of TRAI NDNC regulations",
        None,
    )
    for junk in ("", "<html><body>Bad gateway</body></html>", "{not json", "[1, 2]", "<a><b"):
        assert parse_error_body(junk) == (None, None)
    err = error_for_response(403, xml, method="POST", url="/x")
    assert type(err).__name__ == "DndBlockedError"


def test_get_retries_on_5xx_and_429_then_succeeds(
    client: ExotelClient, sim: ExotelSimulator, sleeps: list[float]
) -> None:
    sms = send(client)
    sim.clear()
    sim.inject(Fault(status=500, method="GET"), times=1)
    sim.inject(Fault(status=429, retry_after=2, method="GET"), times=1)
    sim.inject(Fault(drop=True, method="GET"), times=1)
    details = client.sms_details(sms.sid)  # type: ignore[attr-defined]
    assert details.sid == sms.sid  # type: ignore[attr-defined]
    assert [r.status for r in sim.requests] == [500, 429, 0, 200]
    assert len(sleeps) == 3
    assert sleeps[1] == 2.0  # Retry-After honoured


def test_get_gives_up_after_max_retries(
    client: ExotelClient, sim: ExotelSimulator, sleeps: list[float]
) -> None:
    sim.inject(Fault(status=503, method="GET"), times=10)
    with pytest.raises(ServerError):
        client.call_details("a" * 32)
    assert len(sim.requests) == 4  # 1 + 3 retries
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps) or max(sleeps) <= 0.05  # exponential, capped


@pytest.mark.parametrize("status", [429, 503])
def test_post_is_retried_when_rejected_before_processing(
    client: ExotelClient, sim: ExotelSimulator, sleeps: list[float], status: int
) -> None:
    sim.inject(Fault(status=status, method="POST"), times=2)
    sms = send(client)
    assert [r.status for r in sim.requests] == [status, status, 200]
    assert len(sim.messages) == 1 and sms.sid in sim.messages  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fault", [Fault(status=500), Fault(status=502, non_json=True), Fault(drop=True)]
)
def test_post_is_never_retried_when_it_may_have_gone_out(
    client: ExotelClient, sim: ExotelSimulator, sleeps: list[float], fault: Fault
) -> None:
    sim.inject(fault, times=1)
    with pytest.raises(ExotelError) as info:
        send(client)
    assert info.value.maybe_sent
    assert "may or may not have been processed" in str(info.value)
    assert len(sim.requests) == 1
    assert sleeps == []


def test_post_read_timeout_is_not_retried(sim: ExotelSimulator) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(initial_delay=0.01, sleep=sleeps.append)
    with ExotelClient(
        SID, TOKEN, base_url=sim.base_url, timeout=(2.0, 0.2), retry=policy
    ) as client:
        sim.inject(Fault(delay=1.0), times=1)
        with pytest.raises(ExotelTimeoutError) as info:
            send(client)
    assert info.value.maybe_sent
    assert "may or may not" in str(info.value)
    assert sleeps == []


def test_get_read_timeout_is_retried(sim: ExotelSimulator) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(initial_delay=0.01, sleep=sleeps.append)
    with ExotelClient(
        SID, TOKEN, base_url=sim.base_url, timeout=(2.0, 0.2), retry=policy
    ) as client:
        sim.inject(Fault(delay=1.0, method="GET"), times=1)
        with pytest.raises(NotFoundError):
            client.call_details("b" * 32)  # the retry reaches the simulator, which has no such call
    assert len(sleeps) == 1


def test_post_is_retried_when_the_connection_is_refused(sim: ExotelSimulator) -> None:
    """A refused connection provably sent nothing, so even a POST is retried.

    The simulator is stopped (its port refuses connections); the retry policy's sleep starts it
    again on the same port, so the retry goes through: no timing involved.
    """
    sim.stop()
    sleeps: list[float] = []

    def restart(delay: float) -> None:
        sleeps.append(delay)
        sim.start()

    policy = RetryPolicy(initial_delay=0.01, sleep=restart)
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, retry=policy) as client:
        sms = send(client)
    assert len(sleeps) == 1
    assert [r.status for r in sim.requests] == [200]
    assert sms.sid in sim.messages  # type: ignore[attr-defined]


def test_refused_connection_error_after_retries(sim: ExotelSimulator) -> None:
    url = sim.base_url
    sim.stop()
    policy = RetryPolicy(max_retries=2, initial_delay=0.01, sleep=lambda _: None)
    with ExotelClient(SID, TOKEN, base_url=url, retry=policy) as client:
        with pytest.raises(ExotelConnectionError) as info:
            send(client)
    assert not info.value.maybe_sent
    assert TOKEN not in str(info.value)


def test_wrong_credentials_and_api_key_auth(sim: ExotelSimulator) -> None:
    with ExotelClient(SID, "wrong-token", base_url=sim.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            send(client)
    assert "wrong-token" not in str(info.value)
    with ExotelSimulator(sid=SID, token=TOKEN, api_key="key123", accept_legacy_auth=False) as keyed:
        with ExotelClient(SID, TOKEN, api_key="key123", base_url=keyed.base_url) as client:
            send(client)
        assert keyed.last_request is not None and keyed.last_request.auth_user == "key123"
        with ExotelClient(SID, TOKEN, base_url=keyed.base_url) as legacy:
            with pytest.raises(AuthenticationError):
                send(legacy)


def test_construction_rules() -> None:
    assert ExotelClient(SID, TOKEN).base_url == "https://api.exotel.com"
    assert ExotelClient(SID, TOKEN, region="mumbai").base_url == "https://api.in.exotel.com"
    assert ExotelClient(SID, TOKEN, base_url="http://127.0.0.1:9/").base_url == "http://127.0.0.1:9"
    assert ExotelClient(SID, TOKEN, base_url="http://localhost:9").base_url == "http://localhost:9"
    with pytest.raises(InsufficientParametersError, match="region='tokyo'"):
        ExotelClient(SID, TOKEN, region="tokyo")
    with pytest.raises(InsufficientParametersError, match="must be an https:// URL"):
        ExotelClient(SID, TOKEN, base_url="http://api.exotel.com")
    with pytest.raises(InsufficientParametersError, match="must not carry credentials"):
        ExotelClient(SID, TOKEN, base_url=f"https://{SID}:{TOKEN}@api.exotel.com")
    with pytest.raises(InsufficientParametersError, match="token is missing"):
        ExotelClient(SID, "")


def test_secrets_stay_out_of_repr_logs_and_errors(
    sim: ExotelSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = ExotelClient(
        SID,
        TOKEN,
        api_key="key-s3cr3t",
        base_url=sim.base_url,
        retry=RetryPolicy(initial_delay=0.0, sleep=lambda _: None),
    )
    assert TOKEN not in repr(client) and "key-s3cr3t" not in repr(client)
    sim.inject(Fault(status=429), times=1)
    with pytest.raises(AuthenticationError) as info:
        send(client)  # the simulator expects api_key=SID: 401 after the 429 retry
    client.close()
    for text in (caplog.text, str(info.value), repr(info.value), info.value.body or ""):
        assert TOKEN not in text
        assert "key-s3cr3t" not in text
    assert "retry 1/3" in caplog.text
    recorded = sim.requests[0].headers.get("Authorization")
    assert recorded == "Basic <redacted>"


def test_own_session_is_closed_but_a_given_session_is_not(sim: ExotelSimulator) -> None:
    session = requests.Session()
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, session=session) as client:
        send(client)
    session.get(sim.base_url + "/", timeout=5)  # still usable
    session.close()


def test_rate_limiter_is_a_bucket_that_never_exceeds_the_limit() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(200, 60.0, burst=50, clock=lambda: now[0], sleep=sleep)
    starts = []
    for _ in range(500):
        wait = limiter.acquire()
        starts.append(now[0] + wait)
    # Any 60-second window holds at most 200 starts.
    starts.sort()
    j = 0
    for i, start in enumerate(starts):
        while starts[j] <= start - 60.0:
            j += 1
        assert i - j + 1 <= 200
    assert starts[49] == 0.0 and starts[50] > 0  # a burst of 50 goes at once
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(10, 1.0, burst=10)


@pytest.mark.slow
def test_limiter_keeps_a_burst_of_500_under_the_simulators_limit() -> None:
    """500 concurrent sends against a 200-per-window simulator: zero 429s with the limiter.

    The window is scaled from a minute to 1 s to keep the suite fast; the client's limiter gets
    a 5% margin for the loopback jitter between taking a slot and the request arriving.
    """
    window = 1.0
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=200, rate_window=window) as sim:
        limiter = RateLimiter(200, window * 1.05)
        with (
            ExotelClient(
                SID, TOKEN, base_url=sim.base_url, rate_limit=limiter, retry=RetryPolicy.none()
            ) as client,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            results = list(pool.map(lambda _: send(client), range(500)))
        statuses = [r.status for r in sim.requests]
    assert len(results) == 500
    assert statuses.count(429) == 0
    assert statuses.count(200) == 500


def test_without_the_limiter_the_same_burst_draws_429s() -> None:
    """The control for the test above: the simulator's limit is real."""
    with ExotelSimulator(
        sid=SID, token=TOKEN, rate_limit=50, rate_window=60.0, retry_after=True
    ) as sim:
        with ExotelClient(
            SID, TOKEN, base_url=sim.base_url, rate_limit=None, retry=RetryPolicy.none()
        ) as client:
            outcomes = []
            for _ in range(60):
                try:
                    send(client)
                    outcomes.append(None)
                except RateLimitExceededError as err:
                    outcomes.append(err.retry_after)
        assert outcomes[:50] == [None] * 50
        refused = outcomes[50:]
        assert len(refused) == 10
        assert all(wait is not None and wait > 0 for wait in refused)  # Retry-After parsed


def test_client_is_thread_safe_for_concurrent_sends(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    barrier = threading.Barrier(8)

    def work(_: int) -> str:
        barrier.wait()
        return client.send_sms("NKALRT", TO, "hello").sid

    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = list(pool.map(work, range(8)))
    assert len(set(sids)) == 8


def test_the_client_imports_only_the_shared_http_layer_of_notifykit() -> None:
    # notifykit.http (the HTTP layer plugins share) imports nothing of notifykit itself, and the
    # package's __init__ imports nothing eagerly: no config, YAML, Jinja or ledger comes along.
    # notifykit._lazy (standard library only) defers the client's parsers and result classes,
    # and the HTTP layer until the client makes its transport (a dry run builds a client and
    # never does).
    import subprocess
    import sys

    code = (
        "import sys, notifykit_exotel.client, notifykit_exotel.simulator\n"
        "def ours(): return sorted(m for m in sys.modules if m.split('.')[0] == 'notifykit')\n"
        "print(ours())\n"
        "client = notifykit_exotel.client.ExotelClient('ACx', 'tok', base_url='http://127.0.0.1:9')\n"
        "print(ours())\n"
        "client._transport\n"
        "print(ours())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "['notifykit', 'notifykit._lazy']",
        "['notifykit', 'notifykit._lazy']",
        "['notifykit', 'notifykit._lazy', 'notifykit.http']",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": "s3cr3t₹tok"}, "token contains spaces, line breaks or non-ASCII"),
        ({"token": "s3cr3t-tok\n"}, "token contains spaces, line breaks or non-ASCII"),
        ({"api_key": "k3y s3cr3t"}, "api_key contains spaces"),
        ({"api_key": "k3y:s3cr3t"}, "api_key contains ':'"),
    ],
)
def test_unusable_credentials_are_refused_without_echoing_them(
    sim: ExotelSimulator, kwargs: dict[str, str], message: str
) -> None:
    """A non-Latin-1 token used to escape as UnicodeEncodeError, whose repr() holds the token;
    a trailing newline from a secrets file only showed up as a 401."""
    args = {"token": TOKEN, **kwargs}
    token = args.pop("token")
    with pytest.raises(InsufficientParametersError, match=message) as info:
        ExotelClient(SID, token, base_url=sim.base_url, **args).send_sms("NKALRT", TO, "hi")
    for secret in kwargs.values():
        assert secret.strip() not in str(info.value)
        assert secret.strip() not in repr(info.value)
    assert sim.requests == []


@pytest.mark.parametrize("timeout", [None, 0, -1.0, (5.0, None), (5.0,), True, "30"])
def test_every_request_keeps_a_finite_timeout(sim: ExotelSimulator, timeout: object) -> None:
    """``timeout=None`` used to be accepted and let a request hang forever; ``0`` failed only
    at the first request, with requests' own ValueError."""
    with pytest.raises(InsufficientParametersError, match="timeout="):
        ExotelClient(SID, TOKEN, base_url=sim.base_url, timeout=timeout)  # type: ignore[arg-type]
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, timeout=(1, 2.5)) as client:
        assert client.timeout == (1, 2.5)
        send(client)
    assert len(sim.requests) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from email.utils import format_datetime

    from notifykit_exotel.client import _retry_after

    assert _retry_after("3") == 3.0
    assert _retry_after("-5") == 0.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    assert _retry_after("inf") is None
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    parsed = _retry_after(format_datetime(later, usegmt=True))
    assert parsed is not None and 25 <= parsed <= 30


def test_transport_errors_keep_their_cause(sim: ExotelSimulator) -> None:
    url = sim.base_url
    sim.stop()
    with ExotelClient(SID, TOKEN, base_url=url, retry=RetryPolicy.none()) as client:
        with pytest.raises(ExotelConnectionError) as info:
            send(client)
    assert isinstance(info.value.__cause__, urllib3.exceptions.NewConnectionError)
    assert "Connection refused" in str(info.value.__cause__)


def test_list_calls_stops_when_exotel_repeats_a_page() -> None:
    """A server that always answers the same NextPageUri must not make the iterator loop forever."""
    import json as jsonlib
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = jsonlib.dumps(
                {
                    "Metadata": {"NextPageUri": f"/v1/Accounts/{SID}/Calls.json?After=x"},
                    "Calls": [{"Sid": f"c{len(hits)}", "Status": "completed"}],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with ExotelClient(SID, TOKEN, base_url=base, retry=RetryPolicy.none()) as client:
            with pytest.raises(ExotelError, match="same next page twice"):
                list(client.list_calls())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert len(hits) == 2
