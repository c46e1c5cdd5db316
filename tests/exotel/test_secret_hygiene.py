"""No credential is reachable from what the client raises or logs, and every error pickles.

An error travels further than its message: Sentry, rich and ``pytest -l`` render the locals of
every frame along the ``__cause__``/``__context__`` chain, task queues pickle it, and loggers
repr() it. Each failure below is provoked over a real socket and all of that is searched for the
token, the API key and the base64 ``Authorization`` value.
"""

from __future__ import annotations

import base64
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import urllib3

import notifykit.errors as core_errors
import notifykit.http as core_http
import notifykit_exotel.errors as exotel_errors
from notifykit_exotel import (
    BulkItemError,
    BulkSmsResult,
    ExotelClient,
    ExotelConnectionError,
    ExotelError,
    ExotelTimeoutError,
    PartialSendError,
    RetryPolicy,
    SmsMessage,
)
from notifykit_exotel.errors import ScrubbedCause
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.exotel.rawserver import HANG, answer, raw_server

SID = "ACsim"
TOKEN = "sim-token-s3cr3t"
KEY = "key-s3cr3t"
TO = "+919876543210"
SECRETS = (
    TOKEN,
    KEY,
    base64.b64encode(f"{KEY}:{TOKEN}".encode()).decode(),
    base64.b64encode(f"{SID}:{TOKEN}".encode()).decode(),
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__cause__, current.__context__]


def _assert_no_secret(error: BaseException) -> None:
    rendered = "".join(
        traceback.TracebackException(
            type(error), error, error.__traceback__, capture_locals=True
        ).format()
    )
    texts = [rendered]
    for link in _chain(error):
        texts += [str(link), repr(link), repr(vars(link)), repr(link.args)]
        texts.append(pickle.dumps(link).decode("latin-1"))
        # What requests keeps on its exceptions: the request with its Authorization header.
        assert getattr(link, "request", None) is None
        assert getattr(link, "response", None) is None
        if not isinstance(link, ExotelError):  # a stand-in for what requests or a parser raised
            assert link.__traceback__ is None  # so no frames holding auth=(key, token)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def _client(base_url: str, **kwargs: Any) -> ExotelClient:
    return ExotelClient(
        SID,
        TOKEN,
        api_key=KEY,
        base_url=base_url,
        retry=RetryPolicy.none(),
        rate_limit=None,
        **kwargs,
    )


def _send(client: ExotelClient) -> object:
    return client.send_sms("NKALRT", TO, "hello")


#: The client's own transport (urllib3) and a session passed in (requests): each failure keeps
#: the type its library raised, as a scrubbed stand-in.
TRANSPORTS = {
    "own": {
        "refused": urllib3.exceptions.NewConnectionError,
        "dropped": urllib3.exceptions.ProtocolError,
        "timeout": urllib3.exceptions.ReadTimeoutError,
    },
    "session": {
        "refused": requests.exceptions.ConnectionError,
        "dropped": requests.exceptions.ConnectionError,
        "timeout": requests.exceptions.ReadTimeout,
    },
}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client_by(transport: str, base_url: str, **kwargs: Any) -> ExotelClient:
    if transport == "session":
        session = requests.Session()
        session.trust_env = False
        return _client(base_url, session=session, **kwargs)
    return _client(base_url, **kwargs)


def test_a_refused_connection_keeps_its_cause_without_the_credentials(transport: str) -> None:
    with raw_server(None) as server:
        url = server.base_url
    with _client_by(transport, url) as client, pytest.raises(ExotelConnectionError) as info:
        _send(client)
    cause = info.value.__cause__
    assert isinstance(cause, TRANSPORTS[transport]["refused"])  # its type is kept
    assert "Connection refused" in str(cause)  # and its message
    assert not info.value.maybe_sent
    _assert_no_secret(info.value)


def test_a_connection_dropped_after_sending_keeps_its_cause_without_the_credentials(
    transport: str,
) -> None:
    with raw_server(None) as server, _client_by(transport, server.base_url) as client:
        with pytest.raises(ExotelConnectionError) as info:
            _send(client)
        assert server.requests[0].headers["authorization"].startswith("Basic ")  # it was there
    assert info.value.maybe_sent
    assert isinstance(info.value.__cause__, TRANSPORTS[transport]["dropped"])
    _assert_no_secret(info.value)


def test_a_read_timeout_keeps_its_cause_without_the_credentials(transport: str) -> None:
    with (
        raw_server(lambda _r: HANG) as server,
        _client_by(transport, server.base_url, timeout=(2, 0.2)) as c,
    ):
        with pytest.raises(ExotelTimeoutError) as info:
            _send(c)
    assert info.value.maybe_sent
    assert "read timeout=0.2" in str(info.value)  # the timeout that expired is named
    assert isinstance(info.value.__cause__, TRANSPORTS[transport]["timeout"])
    _assert_no_secret(info.value)


def test_an_unreadable_body_keeps_the_parsers_error_as_a_scrubbed_cause() -> None:
    with raw_server(answer(200, "[" * 100_000)) as server, _client(server.base_url) as client:
        with pytest.raises(ExotelError) as info:
            _send(client)
    assert isinstance(info.value.__cause__, RecursionError)
    _assert_no_secret(info.value)


def test_a_partial_send_keeps_nothing_secret_down_its_chain() -> None:
    first = answer(200, [{"SMSMessage": {"Sid": f"s{i}"}} for i in range(100)])
    answers = iter([first, None])  # the second request's connection is dropped
    numbers = [f"+9198765{i:05d}" for i in range(101)]
    with raw_server(lambda _r: next(answers)) as server, _client(server.base_url) as client:
        with pytest.raises(PartialSendError) as info:
            client.send_bulk_sms("NKALRT", numbers, "hello")
    assert isinstance(info.value.__cause__, ExotelConnectionError)
    _assert_no_secret(info.value)


def test_a_token_in_the_base_url_path_stays_out_of_logs_errors_and_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy that routes by token puts it in the path of every URL the client builds."""
    caplog.set_level(logging.DEBUG)
    refused = answer(403, {"RestException": {"Message": "no", "Code": 1}})
    answers = iter([answer(429, "", headers={"Retry-After": "0"}), refused])
    with raw_server(lambda _r: next(answers)) as server:
        sleeps: list[float] = []
        policy = RetryPolicy(max_retries=1, initial_delay=0.0, sleep=sleeps.append)
        client = ExotelClient(
            SID, TOKEN, api_key=KEY, base_url=f"{server.base_url}/{TOKEN}/{KEY}", retry=policy
        )
        with pytest.raises(ExotelError) as info:
            _send(client)
        client.close()
        assert server.requests[0].path.startswith(f"/{TOKEN}/{KEY}/v1/")  # it really was there
    assert sleeps == [0.0]
    debug_lines = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(r.name == "notifykit_exotel" for r in debug_lines)
    assert any(r.name.startswith("urllib3") for r in debug_lines)  # urllib3's own lines too
    _assert_redacted(caplog.text, repr(client), str(info.value), info.value.url or "")
    _assert_no_secret(info.value)


def _assert_redacted(*texts: str) -> None:
    # A function of its own, so its loop variables (the secrets) are not locals of the test's
    # frame, which _assert_no_secret renders.
    for text in texts:
        assert "<redacted>" in text
        for secret in SECRETS:
            assert secret not in text


# -- pickling ------------------------------------------------------------------------------------

_SMS = SmsMessage(sid="s1", to=TO, raw={"Sid": "s1"})
_ITEM = BulkItemError(1, "+919876543211", ExotelError("refused", status=400))
_PROBLEM = core_errors.ConfigProblem("notifykit.yaml", 3, "channels.sms.from", "is empty")

#: How to build each public error with every attribute set (others take one message).
_BUILDERS: dict[type[BaseException], Callable[[], BaseException]] = {
    PartialSendError: lambda: PartialSendError(
        "stopped",
        result=BulkSmsResult(messages=(_SMS,), errors=(_ITEM,), requests=1),
        unsent=["+919876543212"],
        status=500,
        maybe_sent=True,
    ),
    ScrubbedCause: lambda: ScrubbedCause("LookupError", "unknown encoding"),
    core_http.NoAnswer: lambda: core_http.NoAnswer(
        "timeout",
        "read timed out",
        reached=True,
        cause=ScrubbedCause("ReadTimeoutError", "read timed out"),
    ),
    core_errors.ConfigError: lambda: core_errors.ConfigError([_PROBLEM, _PROBLEM]),
    core_errors.TemplateError: lambda: core_errors.TemplateError("bad", template="a.j2"),
    core_errors.TemplateNotFoundError: lambda: core_errors.TemplateNotFoundError(
        "none", template="b.j2"
    ),
    core_errors.TemplateRenderError: lambda: core_errors.TemplateRenderError(
        "missing", template="c.j2", variable="host"
    ),
    core_errors.MessageTooLongError: lambda: core_errors.MessageTooLongError("long", template="d"),
    core_errors.DltMismatchError: lambda: core_errors.DltMismatchError("dlt", template="e"),
    core_errors.ProviderError: lambda: core_errors.ProviderError("gone", not_found=True),
}


def _public_errors() -> list[type[BaseException]]:
    found = []
    # ScrubbedCause moved to notifykit.http (the HTTP layer plugins share) with its neighbours
    for module in (exotel_errors, core_errors, core_http):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and value not in found
            ):
                found.append(value)
    return found


def _build(cls: type[BaseException]) -> BaseException:
    if cls in _BUILDERS:
        return _BUILDERS[cls]()
    if issubclass(cls, ExotelError):
        return cls(
            "refused",
            status=403,
            code=40002,
            body="{}",
            method="POST",
            url="/v1/Accounts/ACsim/Sms/send.json",
            maybe_sent=False,
            retry_after=2.5,
        )
    return cls("something is wrong")


def _comparable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return (type(value), str(value), {k: _comparable(v) for k, v in vars(value).items()})
    if isinstance(value, BulkSmsResult):
        return (value.sids, [(e.index, e.to, _comparable(e.error)) for e in value.errors])
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize("cls", _public_errors(), ids=lambda cls: cls.__name__)
def test_every_public_error_round_trips_pickle_with_its_attributes(
    cls: type[BaseException],
) -> None:
    error = _build(cls)
    if cls in _BUILDERS or issubclass(cls, ExotelError):
        assert vars(error), f"{cls.__name__} was built without its attributes"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert _comparable(copy) == _comparable(error)
    if isinstance(error, ExotelError):
        assert copy.failure_class == error.failure_class


def test_the_pickle_test_covers_every_error_named_in_the_modules() -> None:
    names = {cls.__name__ for cls in _public_errors()}
    assert {"PartialSendError", "ConfigError", "RateLimitExceededError", "ProviderError"} <= names
    assert set(exotel_errors.__all__) - {
        "FailureClass",
        "error_for_response",
        "parse_error_body",
    } <= (
        names | {"ExotelException", "InsufficientParametersException", "RateLimitExceededException"}
    )


def test_a_partial_send_keeps_what_was_sent_through_pickle() -> None:
    error = pickle.loads(pickle.dumps(_BUILDERS[PartialSendError]()))
    assert isinstance(error, PartialSendError)
    assert error.result.sids == ["s1"]
    assert error.result.messages[0].to == TO
    assert error.unsent == ["+919876543212"]
    assert error.maybe_sent and error.status == 500


def test_config_error_keeps_its_problems_and_message_through_pickle() -> None:
    error = core_errors.ConfigError([_PROBLEM])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == [_PROBLEM]
    assert (
        str(copy)
        == str(error)
        == ("1 problem in configuration:\n  notifykit.yaml:3: channels.sms.from: is empty")
    )


def test_errors_from_the_simulator_pickle_too(sim: ExotelSimulator) -> None:
    sim.inject(Fault(status=429, retry_after=3), times=1)
    with ExotelClient(
        SID, "sim-token-s3cr3t", base_url=sim.base_url, retry=RetryPolicy.none()
    ) as c:
        with pytest.raises(ExotelError) as info:
            _send(c)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.status, copy.retry_after, copy.failure_class) == (429, 3.0, "transient")
