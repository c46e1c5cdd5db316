"""The planner remembers the numbers it validated (issue 9: libphonenumber costs more per number
than the rest of planning), and a remembered answer is the one libphonenumber gives."""

from __future__ import annotations

import re
from typing import Any

import pytest

import notifykit.plan.planner as planner
from notifykit.errors import RecipientError


def test_a_number_sent_to_again_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = planner.parse_phone

    def counting(number: str, *args: Any, **kwargs: Any) -> str | None:
        parsed.append(number)
        return real(number, *args, **kwargs)

    monkeypatch.setattr(planner, "parse_phone", counting)
    planner._phone_recipient.cache_clear()
    numbers = ["09800000101", "+919800000102", "919800000103"]
    first = [planner.Planner.raw_recipient(n).phone for n in numbers]
    again = [planner.Planner.raw_recipient(n).phone for n in numbers]
    assert first == again == ["+919800000101", "+919800000102", "+919800000103"]
    assert parsed == numbers  # each once
    # An invalid number stays invalid when asked again, with the same error.
    for _ in range(2):
        with pytest.raises(RecipientError, match=re.escape("'+91123' is not a valid phone number")):
            planner.Planner.raw_recipient("+91123")
    assert parsed == [*numbers, "+91123"]
    assert planner._phone_recipient.cache_info().maxsize == planner.PHONE_CACHE
