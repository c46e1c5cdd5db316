"""The fast path for Indian mobile numbers in E.164 (notifykit.text.phone) answers exactly as
libphonenumber does, for every number it accepts; it declines everything else."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from notifykit.config.schema import parse_phone
from notifykit.text import phone
from notifykit.text.phone import IN_MOBILE_PATTERN, PHONENUMBERS_VERSION, indian_mobile_e164


def libphonenumber(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def test_the_pattern_is_the_installed_librarys() -> None:
    # A fresh install may get a newer phonenumbers than the one the pattern was copied from:
    # the fast path is then off (every number goes to libphonenumber, tested below), which is
    # correct but slower, so this says so instead of failing CI on the library's next release.
    if phonenumbers.__version__ != PHONENUMBERS_VERSION:
        pytest.skip(
            f"phonenumbers {phonenumbers.__version__} is installed, the fast path's pattern is "
            f"{PHONENUMBERS_VERSION}'s, so it is off: copy the new pattern into "
            "notifykit/text/phone.py"
        )
    mobile = phonenumbers.PhoneMetadata.metadata_for_region("IN").mobile
    assert mobile.national_number_pattern == IN_MOBILE_PATTERN
    assert tuple(mobile.possible_length) == (10,)
    assert phonenumbers.region_code_for_country_code(91) == "IN"


def test_every_number_it_accepts_libphonenumber_accepts_as_the_same_number() -> None:
    rng = random.Random(20)
    accepted = declined = 0
    for prefix in range(10_000):  # every 4-digit start, three random endings each
        for _ in range(3):
            text = f"+91{prefix:04d}{rng.randrange(1_000_000):06d}"
            fast = indian_mobile_e164(text)
            if fast is None:
                declined += 1
                continue
            accepted += 1
            assert libphonenumber(text) == fast == text, text
    assert accepted > 10_000 and declined > 1_000  # both sides were exercised


@pytest.mark.parametrize(
    "text",
    [
        "9876543210",  # national forms go to libphonenumber
        "09876543210",
        "919876543210",
        "+91 98765 43210",
        "+91-9876543210",
        "+9198765432100",
        "+919876543",
        "+91987654321\n",
        "+91９８７６５４３２１０",  # full-width digits: libphonenumber's to judge
        "+14155550123",
        "+910876543210",
        "",
    ],
)
def test_other_forms_are_left_to_libphonenumber(text: str) -> None:
    assert indian_mobile_e164(text) is None
    # and parse_phone still answers them as libphonenumber does
    assert parse_phone(text) == libphonenumber(text)


def test_parse_phone_answers_as_before() -> None:
    assert parse_phone("+919876543210") == "+919876543210"
    assert parse_phone("+915555555555") is None  # not a mobile, and invalid
    assert parse_phone("+911123456789") == libphonenumber("+911123456789")  # a fixed line


def test_with_another_release_installed_every_number_goes_to_libphonenumber(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert indian_mobile_e164("+919876543210") == "+919876543210"
    phone._same_release.cache_clear()
    monkeypatch.setattr(phone, "PHONENUMBERS_VERSION", "0.0.1")
    try:
        assert indian_mobile_e164("+919876543210") is None
        assert parse_phone("+919876543210") == "+919876543210"  # libphonenumber's answer
    finally:
        phone._same_release.cache_clear()
