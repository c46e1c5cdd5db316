"""The client against answers no Exotel should give, over real sockets.

Each answer comes from a raw-socket server (``tests.exotel.rawserver``) that writes exactly the
bytes a test scripts: bodies nested 100,000 deep, fields of the wrong type, redirects. After a
POST, every one of them must end in a typed result or an ``ExotelError(maybe_sent=True)``, never
in the parser's own exception (which the channel would report as a plain failure, and a retry
on failure would send the SMS twice); and a redirect must never be followed by a POST.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from notifykit_exotel import (
    AuthenticationError,
    BulkMessage,
    ExotelClient,
    ExotelError,
    InsufficientParametersError,
    PartialSendError,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from tests.exotel.rawserver import CERT, RawRequest, answer, raw_server

SID = "ACsim"
TOKEN = "sim-token-s3cr3t"
TO = "+919876543210"
EXOPHONE = "08088919888"
DEEP = 100_000  # far past any recursion limit


def _client(base_url: str, **kwargs: Any) -> ExotelClient:
    return ExotelClient(
        SID, TOKEN, base_url=base_url, retry=RetryPolicy.none(), rate_limit=None, **kwargs
    )


POSTS: dict[str, Callable[[ExotelClient], object]] = {
    "send_sms": lambda c: c.send_sms("NKALRT", TO, "hello"),
    "call_number": lambda c: c.call_number(TO, "+919876543211", EXOPHONE),
    "call_flow": lambda c: c.call_flow(TO, 12345, EXOPHONE),
    "send_bulk_sms": lambda c: c.send_bulk_sms("NKALRT", [TO, "+919876543211"], "hello"),
    "send_bulk_dynamic": lambda c: c.send_bulk_dynamic(
        [BulkMessage(TO, "a"), BulkMessage("+919876543211", "b")], from_="NKALRT"
    ),
}

UNREADABLE_2XX = {
    "deep array": "[" * DEEP + "]" * DEEP,
    "deep object": '{"a":' * DEEP + "1" + "}" * DEEP,
    "not JSON": "<html>OK</html>",
    "5,000-digit number": "1" * 5000,
    "invalid UTF-8": b'{"SMSMessage": {"Sid": "\xff\xfe"}',
    "empty": "",
}

NO_SID_2XX = {
    "null": None,
    "a number": 42,
    "a string": "queued",
    "empty list": [],
    "Sid of the wrong type": {"SMSMessage": {"Sid": {"x": 1}}, "Call": {"Sid": [1, 2]}},
    "Sid as a bool": {"SMSMessage": {"Sid": True}, "Call": {"Sid": True}},
    "inner of the wrong type": {"SMSMessage": 4, "Call": "x"},
}


@pytest.mark.parametrize("method", sorted(POSTS))
@pytest.mark.parametrize("body", sorted(UNREADABLE_2XX))
def test_an_unreadable_2xx_after_a_post_is_maybe_sent(method: str, body: str) -> None:
    with raw_server(answer(200, UNREADABLE_2XX[body])) as server, _client(server.base_url) as c:
        with pytest.raises(ExotelError) as info:
            POSTS[method](c)
    error = info.value
    assert type(error) in (ExotelError, PartialSendError) and type(error) is ExotelError
    assert error.maybe_sent and error.failure_class == "ambiguous"
    assert error.status == 200
    assert "cannot read" in error.message
    assert "may or may not have been processed" in str(error)
    assert len(server.requests) == 1  # never re-sent


@pytest.mark.parametrize("method", ["send_sms", "call_number", "call_flow"])
@pytest.mark.parametrize("body", sorted(NO_SID_2XX))
def test_accepted_without_a_sid_is_maybe_sent_with_its_status(method: str, body: str) -> None:
    with (
        raw_server(answer(202, json.dumps(NO_SID_2XX[body]))) as server,
        _client(server.base_url) as c,
    ):
        with pytest.raises(ExotelError) as info:
            POSTS[method](c)
    assert info.value.maybe_sent
    assert info.value.status == 202  # was None
    assert "returned no" in info.value.message
    assert info.value.method == "POST" and info.value.url is not None
    assert info.value.body  # the start of what came back, for diagnosis
    assert len(server.requests) == 1


def test_fields_of_the_wrong_type_still_give_a_typed_result() -> None:
    """``"Details": {"Legs": 4}`` used to raise TypeError from the model after the call was placed."""
    nested: Any = "x"
    for _ in range(900):  # parses, but str() of it would recurse too deep
        nested = [nested]
    call = {
        "Call": {
            "Sid": "c1",
            "Status": ["queued"],
            "Duration": {"s": 3},
            "Price": [],
            "DateCreated": 7,
            "To": nested,
            "Details": {"Legs": 4, "ConversationDuration": True, "Leg1Status": {"a": 1}},
        }
    }
    with raw_server(answer(200, call)) as server, _client(server.base_url) as c:
        placed = c.call_number(TO, "+919876543211", EXOPHONE)
    assert placed.sid == "c1"
    assert placed.status is None and placed.duration is None and placed.price is None
    assert placed.to is None and placed.date_created is None
    assert placed.details is not None and placed.details.legs == ()
    for legs in (True, "completed", [1, None, "x", {"Leg": 5}], {"Leg": {"Id": "2"}}):
        body = {"Call": {"Sid": "c2", "Details": {"Legs": legs}}}
        with raw_server(answer(200, body)) as server, _client(server.base_url) as c:
            details = c.call_number(TO, "+919876543211", EXOPHONE).details
        assert details is not None
        assert all(leg.id in (None, 2) for leg in details.legs)
    sms = {"SMSMessage": {"Sid": "s1", "SmsUnits": "1e999999999", "Status": 3, "Price": "9" * 200}}
    with raw_server(answer(200, sms)) as server, _client(server.base_url) as c:
        sent = c.send_sms("NKALRT", TO, "hi")
    assert sent.sid == "s1" and sent.sms_units is None and sent.price is None
    assert sent.status is not None and not sent.status.is_known


def test_bulk_items_of_any_shape_are_results_or_refusals() -> None:
    items = [
        {"SMSMessage": {"Sid": "s1", "To": TO}},
        {"RestException": {"Status": True, "Message": ["x"], "Code": "9" * 5000}},
        5,
        {"RestException": {"Status": "403", "Message": "DND", "Code": 23005}},
        {"SMSMessage": {"Sid": {"deep": "[" * 50}}},
    ]
    numbers = [TO, "+919876543211", "+919876543212", "+919876543213"]
    with raw_server(answer(200, items)) as server, _client(server.base_url) as c:
        result = c.send_bulk_sms("NKALRT", numbers, "hello")
    assert result.sids == ["s1"]
    statuses = [e.error.status for e in result.errors]
    assert statuses == [400, 403, 400]
    assert [type(e.error).__name__ for e in result.errors][1] == "DndBlockedError"


def test_a_later_bulk_chunk_that_cannot_be_read_is_a_maybe_sent_partial_send() -> None:
    first = answer(200, [{"SMSMessage": {"Sid": f"s{i}"}} for i in range(100)])
    answers = iter([first, answer(200, "[" * DEEP)])
    numbers = [f"+9198765{i:05d}" for i in range(150)]
    with raw_server(lambda _r: next(answers)) as server, _client(server.base_url) as c:
        with pytest.raises(PartialSendError) as info:
            c.send_bulk_sms("NKALRT", numbers, "hello")
    assert info.value.maybe_sent and info.value.status == 200
    assert len(info.value.result.messages) == 100
    assert len(info.value.unsent) == 50
    assert len(server.requests) == 2


ERROR_BODIES = {
    "deep JSON": "[" * DEEP,
    "deep RestException": '{"RestException": ' * DEEP,
    "message of the wrong type": {"RestException": {"Message": [[1]], "Code": {"a": 1}}},
    "5,000-digit code": {"RestException": {"Message": "m", "Code": "9" * 5000}},
    "XML bomb": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<RestException><Message>&c;</Message></RestException>"
    ),
    "external entity": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<RestException><Message>&x;</Message></RestException>"
    ),
    "deep XML": "<RestException>" + "<a>" * DEEP,
}


@pytest.mark.parametrize("body", sorted(ERROR_BODIES))
@pytest.mark.parametrize(
    ("status", "error", "maybe_sent"),
    [(400, ValidationError, False), (403, PermissionDeniedError, False), (500, ServerError, True)],
)
def test_error_bodies_of_any_shape_keep_the_status(
    body: str, status: int, error: type[ExotelError], maybe_sent: bool
) -> None:
    with raw_server(answer(status, ERROR_BODIES[body])) as server, _client(server.base_url) as c:
        with pytest.raises(error) as info:
            c.send_sms("NKALRT", TO, "hello")
    assert info.value.status == status
    assert info.value.maybe_sent is maybe_sent
    assert "root:" not in str(info.value)  # no entity was expanded from a file
    assert len(server.requests) == 1


def test_gets_with_unreadable_answers_raise_exotel_errors() -> None:
    deep = answer(200, "[" * DEEP)
    with raw_server(deep) as server, _client(server.base_url) as c:
        for lookup in (
            lambda: c.call_details("c" * 32),
            lambda: c.sms_details("s" * 32),
            lambda: c.number_info(TO),
            lambda: list(c.list_calls()),
        ):
            with pytest.raises(ExotelError) as info:
                lookup()
            assert not info.value.maybe_sent and info.value.status == 200
            assert info.value.failure_class == "transient"  # a GET: reading again is safe
    odd = answer(200, {"Calls": 4, "Metadata": {"NextPageUri": ["x"]}})
    with raw_server(odd) as server, _client(server.base_url) as c:
        assert list(c.list_calls()) == []


# -- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["same origin", "other host"])
def test_a_post_never_follows_a_redirect(status: int, where: str) -> None:
    with raw_server(answer(200, {"SMSMessage": {"Sid": "elsewhere"}})) as other:
        location = "/v1/Accounts/ACsim/Sms/again.json" if where == "same origin" else other.base_url
        redirect = answer(status, "", headers={"Location": location})
        with raw_server(redirect) as server, _client(server.base_url) as c:
            with pytest.raises(ExotelError) as info:
                c.send_sms("NKALRT", TO, "hello")
        assert info.value.status == status
        assert info.value.maybe_sent and info.value.failure_class == "ambiguous"
        assert "redirect" in info.value.message and "never sent again" in info.value.message
        assert len(server.requests) == 1  # one POST, not followed by a second one or a GET
        assert other.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_get_follows_a_redirect_within_its_origin(status: int) -> None:
    def handler(request: RawRequest) -> bytes:
        if "moved" not in request.target:
            return answer(status, "", headers={"Location": "/moved/Calls/c1.json?details=true"})
        return answer(200, {"Call": {"Sid": "c1", "Status": "completed"}})

    with raw_server(handler) as server, _client(server.base_url) as c:
        call = c.call_details("c1")
    assert call.sid == "c1"
    assert [r.target for r in server.requests][1] == "/moved/Calls/c1.json?details=true"
    assert all(r.headers["authorization"].startswith("Basic ") for r in server.requests)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_get_never_follows_a_redirect_to_another_origin(status: int) -> None:
    with raw_server(answer(200, {"Call": {"Sid": "c1"}})) as other:
        for location in (other.base_url + "/x", f"http://localhost:{other.port}/x"):
            redirect = answer(status, "", headers={"Location": location})
            with raw_server(redirect) as server, _client(server.base_url) as c:
                with pytest.raises(ExotelError) as info:
                    c.call_details("c1")
            assert info.value.status == status and not info.value.maybe_sent
            assert info.value.failure_class == "permanent"
            assert "not followed" in info.value.message
            assert len(server.requests) == 1
        assert other.requests == []  # the credentials went nowhere else


def test_an_https_get_is_never_redirected_to_plain_http() -> None:
    with raw_server(answer(200, {"Call": {"Sid": "c1"}})) as plain:
        with raw_server(None, tls=True) as secure:
            secure.handler = lambda _r: answer(
                302, "", headers={"Location": f"http://127.0.0.1:{secure.port}/x"}
            )
            session = requests.Session()
            session.trust_env = False
            session.verify = str(CERT)
            with _client(secure.base_url, session=session) as c:
                with pytest.raises(ExotelError, match="not followed"):
                    c.call_details("c1")
            session.close()
            assert len(secure.requests) == 1
        assert plain.requests == []


def test_a_redirect_loop_stops() -> None:
    loop = answer(302, "", headers={"Location": "/again"})
    with raw_server(loop) as server, _client(server.base_url) as c:
        with pytest.raises(ExotelError, match="redirected more than 5 times"):
            c.call_details("c1")
    assert len(server.requests) == 6


# -- small ones -------------------------------------------------------------------------------------


def test_repr_of_a_half_built_client_does_not_raise() -> None:
    half = ExotelClient.__new__(ExotelClient)
    assert repr(half) == "ExotelClient(sid=None, base_url=None)"
    half.close()  # nor does close()


def test_a_401_names_the_fix() -> None:
    body = {"RestException": {"Status": 401, "Message": "Authentication failed", "Code": 34010}}
    with raw_server(answer(401, body)) as server, _client(server.base_url) as c:
        with pytest.raises(AuthenticationError) as info:
            c.send_sms("NKALRT", TO, "hello")
    text = str(info.value)
    for word in ("sid", "api_key", "api_token", "region", "api.in.exotel.com"):
        assert word in text
    assert info.value.message == "Authentication failed"  # Exotel's own words stay as they were
    assert info.value.failure_class == "permanent"


def test_send_bulk_dynamic_without_a_sender_sends_nothing() -> None:
    with raw_server(answer(200, [])) as server, _client(server.base_url) as c:
        with pytest.raises(InsufficientParametersError, match=r"messages\[1\] has no sender"):
            c.send_bulk_dynamic([BulkMessage(TO, "a", from_="NKALRT"), BulkMessage(TO, "b")])
        with pytest.raises(InsufficientParametersError, match=r"and 2 more have no sender"):
            c.send_bulk_dynamic([{"to": TO, "body": str(i)} for i in range(7)])
    assert server.requests == []


@pytest.mark.parametrize(
    ("region", "number", "expected"),
    [
        ("IN", "12345", ["+919876543210", "09876543210", "919876543210"]),
        ("IN", "not a number", ["E.164", "0 or 91 prefix"]),
        (None, "9876543210", ["E.164", "country code", "default_region"]),
    ],
)
def test_invalid_numbers_say_what_form_is_expected(
    region: str | None, number: str, expected: list[str]
) -> None:
    with ExotelClient(SID, TOKEN, default_region=region) as c:
        with pytest.raises(InsufficientParametersError) as info:
            c.send_sms("NKALRT", number, "hi")
    for part in expected:
        assert part in str(info.value)


def test_parse_error_body_really_never_raises() -> None:
    from notifykit_exotel.errors import parse_error_body

    for body in ERROR_BODIES.values():
        text = body if isinstance(body, str) else json.dumps(body)
        message, code = parse_error_body(text)
        assert message is None or isinstance(message, str)
        assert code is None or isinstance(code, int)
    assert parse_error_body('{"RestException": {"Message": "m", "Code": "9"}}') == ("m", 9)
