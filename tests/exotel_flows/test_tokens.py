"""The per-call token and the numbers Exotel sends, on their own."""

from __future__ import annotations

import pytest

from notifykit_exotel.flows import call_token, e164, flow_urls, parse_token

BATCH = "AbCdEfGhIjKlMnOpQrStUv"


def test_a_call_token_names_its_batch_and_number_without_showing_the_number():
    callback = f"https://alerts.example.com/status/{BATCH}"
    one = call_token(callback, "+919876543210")
    two = call_token(callback, "+919876543211")
    assert one is not None and two is not None and one != two
    assert "9876543210" not in one
    assert parse_token(one) == (BATCH, one.split(".")[1])
    assert call_token(None, "+919876543210") is None  # no public_url: the text, as before
    assert call_token("https://example.com/hook", "+919876543210") is None


@pytest.mark.parametrize("token", ["", "short.AAAAAAAA", f"{BATCH}.AAA", f"{BATCH}", "a b"])
def test_a_malformed_token_is_none(token):
    assert parse_token(token) is None


@pytest.mark.parametrize(
    "given", ["09876543210", "919876543210", "+919876543210", "9876543210", "+91 98765-43210"]
)
def test_every_form_exotel_sends_is_the_same_e164_number(given):
    assert e164(given) == "+919876543210"


@pytest.mark.parametrize("given", ["", "abc", "12"])
def test_what_is_not_a_number_is_none(given):
    assert e164(given) is None


def test_without_a_flow_secret_the_secret_urls_are_none():
    urls = flow_urls("https://a.example.com/nk/", None)
    assert urls["voice"] == "https://a.example.com/nk/exotel/voice"
    assert urls["missed_call"] is None and urls["oncall"] is None
