"""Property-based tests: every parser of untrusted bytes meets arbitrary input.

A status callback is POSTed by anyone who finds the webhook URL, and an API answer can come from
any proxy in between; the parsers must end in their result or their one documented error on
*every* body. Hypothesis generates the bodies (JSON of any shape and depth, urlencoded and
multipart forms with bracketed keys, any charset and content type) and the cases from the issue
are pinned as explicit examples.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifykit_exotel import (
    Call,
    CallStatusCallback,
    ExotelError,
    InsufficientParametersError,
    NumberInfo,
    SmsMessage,
    SmsStatusCallback,
    parse_call_callback,
    parse_sms_callback,
)
from notifykit_exotel.callbacks import decode_callback_body, unflatten
from notifykit_exotel.client import _bulk_items, _calls_page, _first_sms
from notifykit_exotel.errors import error_for_response, parse_error_body
from notifykit_exotel.models import (
    CallDetails,
    CallLeg,
    ExoPhone,
    WhitelistStatus,
    parse_exophones,
)

PROPERTIES = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
exotel_keys = st.sampled_from(
    ["CallSid", "SmsSid", "Sid", "Status", "Legs", "To", "DateSent", "SmsUnits", "Duration",
     "Details", "Call", "SMSMessage", "RestException", "Code", "Message", "Price", "DND", "0", "",
     "incoming_phone_numbers", "phone_number", "capabilities", "voice", "next_page_uri",
     "Result", "Expiry"]
)  # fmt: skip
shaped = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(exotel_keys, inner, max_size=5),
    max_leaves=30,
)
key_parts = st.sampled_from(["Legs", "0", "1", "", "Status", "a", "007", "9" * 30, "²", "٣"])
form_keys = st.builds(
    lambda head, parts: head + "".join(f"[{p}]" for p in parts),
    st.sampled_from(["CallSid", "SmsSid", "Legs", "Status", "0", "x"]) | st.text(max_size=6),
    st.lists(key_parts, max_size=5),
)
form_fields = st.lists(st.tuples(form_keys, st.text(max_size=10)), max_size=8)
charsets = st.sampled_from(
    ["utf-8", "latin-1", "x-unknown", "utf-7", "ébène", "shift_jis", "", "utf-16", "\u20ac"]
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=B",
        "multipart/form-data",
        "multipart/form-data; boundary=\u20ac\u20ac",
        "text/plain; charset=x-unknown",
        "multipart/mixed; boundary=B",
    ]
) | st.text(max_size=40)


def _urlencoded(fields: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields)


def _multipart(fields: list[tuple[str, str]], charset: str) -> bytes:
    parts = []
    for name, value in fields:
        head = f'Content-Disposition: form-data; name="{name}"\r\n'
        if charset:
            head += f"Content-Type: text/plain; charset={charset}\r\n"
        parts.append(
            b"--B\r\n" + head.encode("utf-8") + b"\r\n" + value.encode("utf-8", "replace") + b"\r\n"
        )
    return b"".join(parts) + b"--B--\r\n"


def _deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


CALLBACK_EXAMPLES: list[tuple[bytes | str, str | None]] = [
    ("0=x&1=y", None),  # all-numeric keys: the top level used to become a list
    ('{"CallSid": "c", "Legs": 4}', "application/json"),
    ('{"CallSid": "c", "Legs": true}', "application/json"),
    ('{"SmsSid": "s", "Status": {"a": 1}, "DateSent": [1]}', "application/json"),
    ("CallSid=c&Legs[" + "9" * 5000 + "][Status]=busy", None),  # 5,000-digit index
    ("CallSid=c&Legs" + "[0]" * 2000 + "=x", None),  # 2,000 levels deep
    ('{"CallSid": ' + _deep(2000) + "}", "application/json"),  # deep JSON
    ('{"CallSid": "c", "Legs": ' + _deep(900) + "}", "application/json"),  # parses, nests deep
    ('{"CallSid": "c", "x": ' + '{"a":' * 600 + "1" + "}" * 600 + "}", "application/json"),
    (_multipart([("CallSid", "c")], "x-unknown"), "multipart/form-data; boundary=B"),
    (_multipart([("CallSid", "c")], "ébène"), "multipart/form-data; boundary=B"),
    (_multipart([("CallSid", "c")], "utf-8"), "multipart/form-data; boundary=\u20ac"),
    (_multipart([("CallSid", "c")], "utf-8"), "multipart/form-data; charset=\u20ac; boundary=B"),
    (b"\xff\xfe{", "application/json"),
    ("[1, 2]", "application/json"),
    ("", None),
]


def _parse_callback(parse: Any, body: bytes | str, content_type: str | None) -> None:
    try:
        result = parse(body, content_type)
    except InsufficientParametersError:
        return  # the one documented error
    assert isinstance(result, (CallStatusCallback, SmsStatusCallback))
    assert isinstance(result.raw, dict)
    hash(result.dedup_key if isinstance(result, CallStatusCallback) else result.sms_sid)


@pytest.mark.parametrize("parse", [parse_call_callback, parse_sms_callback])
@pytest.mark.parametrize(("body", "content_type"), CALLBACK_EXAMPLES)
def test_the_issues_callback_bodies_raise_only_the_documented_error(
    parse: Any, body: bytes | str, content_type: str | None
) -> None:
    _parse_callback(parse, body, content_type)


def test_numeric_keys_and_huge_indexes_parse_as_data() -> None:
    assert decode_callback_body("0=x&1=y&CallSid=c", None) == {"0": "x", "1": "y", "CallSid": "c"}
    huge = "9" * 5000
    data = unflatten({f"Legs[{huge}][Status]": "busy", "Legs[2][Status]": "ok"})
    assert data == {"Legs": [{"Status": "ok"}, {"Status": "busy"}]}  # numeric order, no int()
    parsed = parse_call_callback('{"CallSid": "c", "Legs": 4}', "application/json")
    assert parsed.legs == ()
    with pytest.raises(InsufficientParametersError, match="nests"):
        parse_call_callback("CallSid=c&Legs" + "[0]" * 2000 + "=x")
    charset = _multipart([("CallSid", "c1"), ("Status", "busy")], "x-unknown")
    assert parse_call_callback(charset, "multipart/form-data; boundary=B").call_sid == "c1"


@PROPERTIES
@given(body=json_values, content_type=content_types)
def test_callback_parsers_on_any_json(body: Any, content_type: str | None) -> None:
    text = json.dumps(body)
    for parse in (parse_call_callback, parse_sms_callback):
        _parse_callback(parse, text, content_type)
        if isinstance(body, dict):
            _parse_callback(parse, body, None)  # a framework's already-parsed form


@PROPERTIES
@given(fields=form_fields, content_type=content_types)
def test_callback_parsers_on_any_urlencoded_form(
    fields: list[tuple[str, str]], content_type: str | None
) -> None:
    for parse in (parse_call_callback, parse_sms_callback):
        _parse_callback(parse, _urlencoded(fields), content_type)


@PROPERTIES
@given(fields=form_fields, charset=charsets, boundary=st.sampled_from(["B", "C", "\u20ac", ""]))
def test_callback_parsers_on_any_multipart_form(
    fields: list[tuple[str, str]], charset: str, boundary: str
) -> None:
    body = _multipart(fields, charset)
    content_type = f"multipart/form-data; boundary={boundary}; charset={charset}"
    for parse in (parse_call_callback, parse_sms_callback):
        _parse_callback(parse, body, content_type)


@PROPERTIES
@given(body=st.binary(max_size=300), content_type=content_types)
def test_callback_parsers_on_any_bytes(body: bytes, content_type: str | None) -> None:
    for parse in (parse_call_callback, parse_sms_callback):
        _parse_callback(parse, body, content_type)


@PROPERTIES
@given(data=shaped)
@example(data={"Details": {"Legs": 4}})
@example(data={"Call": {"Sid": "c", "Details": {"Legs": [True, 1, {"Leg": 3}]}}})
@example(data={"SMSMessage": {"Sid": ["x"], "Price": "9" * 500, "SmsUnits": "1e999999999"}})
def test_result_models_read_any_shape(data: Any) -> None:
    mapping = data if isinstance(data, dict) else {"x": data}
    for model in (Call, SmsMessage, NumberInfo, CallDetails, CallLeg, ExoPhone, WhitelistStatus):
        result = model.from_api(mapping)
        repr(result)  # a frozen dataclass of typed fields: nothing left to blow up later
    try:
        phones, after = parse_exophones(data)
    except ValueError:
        pass  # the one documented refusal: the client reports an unreadable answer
    else:
        assert all(isinstance(p, ExoPhone) for p in phones)
        assert after is None or isinstance(after, str)
    _first_sms(data)
    calls, next_uri = _calls_page(data)
    assert all(isinstance(call, Call) for call in calls)
    assert next_uri is None or isinstance(next_uri, str)


@PROPERTIES
@given(data=shaped, recipients=st.lists(st.sampled_from(["+919876543210", "+919876543211"])))
def test_bulk_answers_of_any_shape(data: Any, recipients: list[str]) -> None:
    try:
        messages, errors = _bulk_items(recipients, data)
    except ExotelError as err:
        refusal: ExotelError | None = err
    else:
        refusal = None
    if refusal is not None:
        assert refusal.maybe_sent  # the bulk was accepted: what it holds is unknown
        return
    assert all(isinstance(m, SmsMessage) and m.sid for m in messages)
    assert all(isinstance(e.error, ExotelError) for e in errors)


error_texts = (
    st.text(max_size=200)
    | json_values.map(json.dumps)
    | shaped.map(lambda v: json.dumps({"RestException": v}))
    | st.builds(
        lambda m, c: f"<RestException><Message>{m}</Message><Code>{c}</Code></RestException>",
        st.text(max_size=20),
        st.text(max_size=8),
    )
)


@PROPERTIES
@given(text=error_texts, status=st.integers(300, 599), method=st.sampled_from(["GET", "POST"]))
@example(text=_deep(100_000), status=500, method="POST")
@example(text='{"RestException": ' * 5000, status=400, method="POST")
@example(
    text='{"RestException": {"Message": [[1]], "Code": "' + "9" * 5000 + '"}}',
    status=403,
    method="GET",
)
@example(text="<RestException>" + "<a>" * 5000, status=400, method="POST")
@example(
    text='<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><RestException><Message>&b;</Message></RestException>',
    status=403,
    method="POST",
)
def test_error_body_parsers_never_raise(text: str, status: int, method: str) -> None:
    message, code = parse_error_body(text)
    assert message is None or isinstance(message, str)
    assert code is None or (isinstance(code, int) and not isinstance(code, bool))
    error = error_for_response(status, text, method=method, url="/v1/Accounts/A/Sms/send.json")
    assert isinstance(error, ExotelError) and error.status == status
    assert error.failure_class in ("transient", "permanent", "ambiguous")
    str(error), repr(error)
