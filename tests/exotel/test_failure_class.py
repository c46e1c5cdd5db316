"""``ExotelError.failure_class``: every row of its table, provoked for real.

Each case makes the client fail the way the row says, through the simulator's fault injection or
a raw-socket server, and checks the class a retry policy would read: ``transient`` (certainly not
processed: retry later), ``permanent`` (Exotel refused it: do not retry) or ``ambiguous`` (it may
have been sent: never resend blindly).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import pytest

from notifykit_exotel import (
    AuthenticationError,
    ConflictError,
    DndBlockedError,
    ExotelClient,
    ExotelConnectionError,
    ExotelError,
    ExotelTimeoutError,
    InsufficientParametersError,
    KycRequiredError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitExceededError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.exotel.rawserver import answer, raw_server

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"
EXOPHONE = "08088919888"
TO = "+919876543210"


def _client(base_url: str, token: str = TOKEN, **kwargs: object) -> ExotelClient:
    return ExotelClient(
        SID, token, base_url=base_url, retry=RetryPolicy.none(), rate_limit=None, **kwargs
    )  # type: ignore[arg-type]


def _sms(client: ExotelClient) -> object:
    return client.send_sms("NKALRT", TO, "hello")


def _call(client: ExotelClient) -> object:
    return client.call_number(TO, "+919876543211", EXOPHONE)


def _fault(fault: Fault, action: Callable[[ExotelClient], object], **kwargs: object) -> Case:
    def run(sim: ExotelSimulator) -> object:
        sim.inject(fault, times=1)
        with _client(sim.base_url, **kwargs) as client:
            return action(client)

    return run


def _raw(reply: bytes, action: Callable[[ExotelClient], object]) -> Case:
    def run(sim: ExotelSimulator) -> object:
        with raw_server(reply) as server, _client(server.base_url) as client:
            return action(client)

    return run


def _refused(sim: ExotelSimulator) -> object:
    url = sim.base_url
    sim.stop()
    with _client(url) as client:
        return _sms(client)


@contextlib.contextmanager
def _full_listener() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection is never established: the way
    to a real connect timeout without leaving loopback."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        while True:  # fill the queue until one more connection attempt times out
            filler = socket.socket()
            fillers.append(filler)
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break
            if len(fillers) > 64:
                pytest.skip("this kernel never fills the accept queue")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def _connect_timeout(sim: ExotelSimulator) -> object:
    with _full_listener() as port, _client(f"http://127.0.0.1:{port}", timeout=(0.2, 1.0)) as c:
        return _sms(c)


def _invalid_number(sim: ExotelSimulator) -> object:
    with _client(sim.base_url) as client:
        return client.send_sms("NKALRT", "12345", "hello")


def _wrong_token(sim: ExotelSimulator) -> object:
    with _client(sim.base_url, token="wrong-token") as client:
        return _sms(client)


Case = Callable[[ExotelSimulator], object]

ROWS: list[tuple[str, Case, type[ExotelError], str]] = [
    # transient: certainly not processed
    ("connection refused", _refused, ExotelConnectionError, "transient"),
    ("connect timeout", _connect_timeout, ExotelTimeoutError, "transient"),
    ("429", _fault(Fault(status=429, code=40402), _sms), RateLimitExceededError, "transient"),
    (
        "SMS 503 throttle",
        _fault(Fault(status=503, code=40405), _sms),
        RateLimitExceededError,
        "transient",
    ),
    ("voice 503", _fault(Fault(status=503, code=35008), _call), ServerError, "transient"),
    ("408", _fault(Fault(status=408), _sms), ExotelError, "transient"),
    (
        "GET 500",
        _fault(Fault(status=500, method="GET"), lambda c: c.call_details("c" * 32)),
        ServerError,
        "transient",
    ),
    (
        "GET read timeout",
        _fault(Fault(delay=1.0, method="GET"), lambda c: c.sms_details("s" * 32), timeout=(2, 0.2)),
        ExotelTimeoutError,
        "transient",
    ),
    # permanent: Exotel refused it, or it was never valid
    ("invalid number", _invalid_number, InsufficientParametersError, "permanent"),
    (
        "400 validation",
        _fault(Fault(status=400, code=40202), _sms),
        ValidationError,
        "permanent",
    ),
    (
        "400 DLT rejection",
        _fault(Fault(status=400, code=40206, message="From doesn't match SmsType"), _sms),
        ValidationError,
        "permanent",
    ),
    ("401 auth", _wrong_token, AuthenticationError, "permanent"),
    ("402", _fault(Fault(status=402), _sms), PaymentRequiredError, "permanent"),
    ("403 KYC", _fault(Fault(status=403, code=340030), _sms), KycRequiredError, "permanent"),
    ("403 DND", _fault(Fault(status=403, code=23005), _sms), DndBlockedError, "permanent"),
    (
        "403 NDNC",
        _fault(Fault(status=403, message="TRAI NDNC regulations"), _call),
        DndBlockedError,
        "permanent",
    ),
    (
        "403 other account",
        _fault(Fault(status=403, code=34009), _sms),
        PermissionDeniedError,
        "permanent",
    ),
    ("404 GET", lambda sim: _raw_lookup(sim), NotFoundError, "permanent"),
    (
        "SMS details 200 No matching results",
        lambda sim: _lookup_unknown_sms(sim),
        NotFoundError,
        "permanent",
    ),
    ("409", _fault(Fault(status=409), _call), ConflictError, "permanent"),
    (
        "GET redirected to another host",
        _raw(
            answer(302, "", headers={"Location": "https://example.com/x"}),
            lambda c: c.call_details("c1"),
        ),
        ExotelError,
        "permanent",
    ),
    # ambiguous: the POST may have been processed
    (
        "POST read timeout",
        _fault(Fault(delay=1.0), _sms, timeout=(2, 0.2)),
        ExotelTimeoutError,
        "ambiguous",
    ),
    ("POST 500", _fault(Fault(status=500), _sms), ServerError, "ambiguous"),
    ("POST 502 HTML", _fault(Fault(status=502, non_json=True), _call), ServerError, "ambiguous"),
    ("POST 504", _fault(Fault(status=504), _sms), ServerError, "ambiguous"),
    ("POST dropped", _fault(Fault(drop=True), _sms), ExotelConnectionError, "ambiguous"),
    ("POST 2xx unreadable", _raw(answer(200, "{"), _sms), ExotelError, "ambiguous"),
    ("POST 2xx without a Sid", _raw(answer(200, {}), _call), ExotelError, "ambiguous"),
    (
        "POST redirected",
        _raw(answer(307, "", headers={"Location": "/again"}), _sms),
        ExotelError,
        "ambiguous",
    ),
]


def _raw_lookup(sim: ExotelSimulator) -> object:
    with _client(sim.base_url) as client:
        return client.call_details("c" * 32)  # the simulator answers 404 for an unknown call


def _lookup_unknown_sms(sim: ExotelSimulator) -> object:
    with _client(sim.base_url) as client:
        return client.sms_details("s" * 32)


@pytest.mark.parametrize(("name", "case", "error", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_each_failure_is_classified(
    sim: ExotelSimulator, name: str, case: Case, error: type[ExotelError], expected: str
) -> None:
    with pytest.raises(ExotelError) as info:
        case(sim)
    assert isinstance(info.value, error), f"{name}: {type(info.value).__name__}: {info.value}"
    assert info.value.failure_class == expected
    assert info.value.maybe_sent is (expected == "ambiguous")


def test_every_class_of_the_table_is_exercised() -> None:
    assert {row[3] for row in ROWS} == {"transient", "permanent", "ambiguous"}


@pytest.mark.parametrize(
    ("fault", "action"),
    [
        (Fault(status=429, retry_after=7), _sms),
        (Fault(status=503, code=40405, retry_after=4), _sms),
    ],
)
def test_retry_after_is_carried_where_exotel_sends_it(
    sim: ExotelSimulator, fault: Fault, action: Callable[[ExotelClient], object]
) -> None:
    sim.inject(fault, times=1)
    with _client(sim.base_url) as client, pytest.raises(RateLimitExceededError) as info:
        action(client)
    assert info.value.retry_after == fault.retry_after
    assert info.value.failure_class == "transient"
    sim.inject(Fault(status=429), times=1)  # no header: nothing is made up
    with _client(sim.base_url) as client, pytest.raises(RateLimitExceededError) as bare:
        action(client)
    assert bare.value.retry_after is None


def test_a_voice_503_with_retry_after_keeps_it_on_the_server_error(sim: ExotelSimulator) -> None:
    sim.inject(Fault(status=503, code=35008, retry_after=9), times=1)
    with _client(sim.base_url) as client, pytest.raises(ServerError) as info:
        _call(client)
    assert (info.value.retry_after, info.value.failure_class) == (9.0, "transient")
