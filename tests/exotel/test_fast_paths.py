"""The client's per-message fast paths give what the slow paths gave: results built without the
frozen ``__init__``, enum and timestamp shortcuts, and the cache of validated numbers."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifykit_exotel import InsufficientParametersError, SmsMessage, SmsStatus
from notifykit_exotel.models import Direction, parse_datetime, parse_str
from notifykit_exotel.wire import normalize_number

PAYLOAD = {
    "Sid": "e58f77760aab4e1280206bebf98adc98",
    "AccountSid": "ACx",
    "From": "08047112345/NKALRT",
    "To": "+919800000000",
    "Body": "ALERT db1 is down. -ACME",
    "Status": "queued",
    "DetailedStatus": "PENDING_TO_OPERATOR",
    "DetailedStatusCode": 21010,
    "DateCreated": "2026-12-02 04:21:34",
    "DateUpdated": "2026-12-02 04:21:34",
    "DateSent": None,
    "Price": "0.20",
    "Direction": "outbound-api",
    "ApiVersion": None,
    "Uri": "/v1/Accounts/ACx/SMS/Messages/e58f.json",
    "SmsUnits": 1,
}


def test_an_sms_built_by_from_api_is_the_dataclass_built_by_its_constructor() -> None:
    message = SmsMessage.from_api(PAYLOAD)
    fields = {f.name for f in dataclasses.fields(SmsMessage)}
    assert set(vars(message)) == fields  # every field set, nothing else
    rebuilt = SmsMessage(**{name: getattr(message, name) for name in fields})
    assert message == rebuilt and hash(message) == hash(rebuilt)
    assert repr(message) == repr(rebuilt)
    assert message.status is SmsStatus.QUEUED and message.direction is Direction.OUTBOUND_API
    assert message.date_created == datetime.fromisoformat("2026-12-02 04:21:34+05:30")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.sid = "changed"  # type: ignore[misc]


@given(
    st.dictionaries(
        st.sampled_from(sorted(PAYLOAD)),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    )
)
def test_from_api_takes_any_field_values_as_the_field_parsers_do(data: dict[str, Any]) -> None:
    message = SmsMessage.from_api(data)
    assert message.to == parse_str(data.get("To"))
    assert message.date_created == parse_datetime(data.get("DateCreated"))
    status = data.get("Status")
    if isinstance(status, str) and status.strip():
        assert message.status == SmsStatus(status)


def test_status_values_outside_the_enum_are_still_kept() -> None:
    message = SmsMessage.from_api({**PAYLOAD, "Status": "Failed-Later"})
    assert message.status is not None and not message.status.is_known
    assert message.status.value == "Failed-Later"
    assert SmsMessage.from_api({**PAYLOAD, "Status": "SENT"}).status is SmsStatus.SENT


def test_a_number_validated_before_gives_the_same_answers_and_errors() -> None:
    for _ in range(2):  # the second round is answered from the cache
        assert normalize_number("09876543210") == "+919876543210"
        assert normalize_number(" +91 98765 43210 ", region=None) == "+919876543210"
        with pytest.raises(InsufficientParametersError, match=r"to\[3\]='12345' is not a valid"):
            normalize_number("12345", field="to[3]")
        with pytest.raises(InsufficientParametersError, match=r"^from_='abc' is not a phone"):
            normalize_number("abc", field="from_")
    # the field name is never cached with the answer
    with pytest.raises(InsufficientParametersError, match=r"^to='12345'"):
        normalize_number("12345", field="to")
    # nor the region: a national number needs one
    with pytest.raises(InsufficientParametersError):
        normalize_number("09876543210", region=None)
    long = "9" * 200  # too long to be cached, still refused
    with pytest.raises(InsufficientParametersError):
        normalize_number(long)
