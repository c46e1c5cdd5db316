"""Tests for notifykit.text.sms (encoding and segment counting, the body length limit) and
notifykit.india (DLT matching)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifykit.errors import DltMismatchError, MessageTooLongError, TemplateError
from notifykit.india import DltCheck, check_dlt, parse_dlt_pattern, require_dlt_match
from notifykit.text.sms import GSM7_BASIC, GSM7_EXTENSION, SmsInfo, analyze_sms, check_length

OTP_PATTERN = "Dear {#var#}, your OTP is {#var#}. It is valid for 10 minutes. -ACME"

# --- encoding and length ---------------------------------------------------------------------


def test_plain_ascii_is_gsm7() -> None:
    assert analyze_sms("Disk 91% full on db-1 @ 09:30") == SmsInfo("GSM-7", 29, 1, 29)


def test_empty_body_has_no_segments() -> None:
    assert analyze_sms("") == SmsInfo("GSM-7", 0, 0, 0)


def test_gsm7_table_sizes() -> None:
    # 128 code points minus the escape; 10 extension characters (form feed and ^{}\[~]|€).
    assert len(GSM7_BASIC) == 127
    assert sorted(GSM7_EXTENSION) == sorted("\f^{}\\[~]|€")
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("char", list("€[]{}^~\\|"))
def test_extension_characters_count_two_septets(char: str) -> None:
    info = analyze_sms(f"Cost {char}5")
    assert info.encoding == "GSM-7"
    assert info.length == 8
    assert info.chars == 7


def test_euro_fills_a_single_sms_at_80() -> None:
    assert analyze_sms("€" * 80) == SmsInfo("GSM-7", 160, 1, 80)
    assert analyze_sms("€" * 81).segments == 2


@pytest.mark.parametrize(
    "text", ["£5 for Ørjan", "Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ", "¿Qué tal? ¡Año! Ñ ü", "é è ù ì ò Ç"]
)
def test_gsm7_basic_set_non_ascii_stays_gsm7(text: str) -> None:
    info = analyze_sms(text)
    assert info.encoding == "GSM-7"
    assert info.length == len(text)


@pytest.mark.parametrize("text", ["backtick `", "curly ’quote’", "ç lowercase cedilla", "â"])
def test_characters_outside_gsm7_force_ucs2(text: str) -> None:
    assert analyze_sms(text).encoding == "UCS-2"


def test_hindi_is_ucs2() -> None:
    body = "सर्वर डाउन है"
    info = analyze_sms(body)
    assert info.encoding == "UCS-2"
    # Every Devanagari letter, vowel sign and virama is one BMP code unit.
    assert info.length == len(body) == 13
    assert info.segments == 1


def test_emoji_counts_two_utf16_units() -> None:
    info = analyze_sms("DB down 🔥")
    assert info.encoding == "UCS-2"
    assert info.chars == 9
    assert info.length == 10


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm7_segment_boundaries(length: int, segments: int) -> None:
    info = analyze_sms("a" * length)
    assert (info.encoding, info.length, info.segments) == ("GSM-7", length, segments)


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_segment_boundaries(length: int, segments: int) -> None:
    info = analyze_sms("ह" * length)
    assert (info.encoding, info.length, info.segments) == ("UCS-2", length, segments)


def test_escape_sequence_is_not_split_across_parts() -> None:
    # 152 plain septets then '€' (2 septets) = 154 > 153: the escape pair cannot straddle the
    # boundary, so part one holds 152 septets and the total still needs only two parts.
    body = "a" * 152 + "€" + "b" * 10
    assert analyze_sms(body).length == 164
    assert analyze_sms(body).segments == 2
    # 152 + '€' + 152 = 306 septets, which ceil(306 / 153) calls 2 parts; but the '€' moves to
    # part two, which then fills up one septet early and leaves the last 'a' for a third part.
    tight = "a" * 152 + "€" + "a" * 152
    assert analyze_sms(tight).length == 306
    assert analyze_sms(tight).segments == 3


# The boundary table (GSM 03.38, 3GPP TS 23.038 / 23.040): one implementation, every edge.
# (body, encoding, network length, segments). A part of a concatenated message holds 153
# septets or 67 UTF-16 units; a two-unit character (an escape pair such as '€', or a surrogate
# pair such as '🔥') is never split, so the part before it may hold 152 or 66.
BOUNDARY_TABLE = [
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),  # 2 x 153
    ("a" * 307, "GSM-7", 307, 3),
    ("a" * 158 + "€", "GSM-7", 160, 1),  # the pair fits a single SMS exactly
    ("a" * 159 + "€", "GSM-7", 161, 2),
    ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),  # pair ends part 1 exactly at 153
    ("a" * 152 + "€" + "a" * 151, "GSM-7", 305, 2),  # pair moves to part 2: 152 + 153
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # ceil(306/153) = 2, but 152 + 153 + 1
    ("a" * 152 + "€" + "a" * 151 + "[", "GSM-7", 307, 3),  # a second pair straddles 2/3
    ("€" * 76 + "a" * 153, "GSM-7", 305, 2),  # 76 pairs = 152, then 1 + 152
    ("ह" * 70, "UCS-2", 70, 1),
    ("ह" * 71, "UCS-2", 71, 2),
    ("ह" * 134, "UCS-2", 134, 2),  # 2 x 67
    ("ह" * 135, "UCS-2", 135, 3),
    ("ह" * 68 + "🔥", "UCS-2", 70, 1),  # the surrogate pair fits a single SMS exactly
    ("ह" * 69 + "🔥", "UCS-2", 71, 2),
    ("ह" * 65 + "🔥" + "ह" * 67, "UCS-2", 134, 2),  # pair ends part 1 exactly at 67
    ("ह" * 66 + "🔥" + "ह" * 65, "UCS-2", 133, 2),  # pair moves to part 2: 66 + 67
    ("ह" * 66 + "🔥" + "ह" * 66, "UCS-2", 134, 3),
    ("🔥" * 35, "UCS-2", 70, 1),
    ("🔥" * 36, "UCS-2", 72, 2),  # 33 pairs (66, one unit left unused) + 3 pairs
]


@pytest.mark.parametrize(
    ("body", "encoding", "length", "segments"),
    BOUNDARY_TABLE,
    ids=[
        f"{enc}-{length}-{segs}-row{i}" for i, (_, enc, length, segs) in enumerate(BOUNDARY_TABLE)
    ],
)
def test_segment_boundary_table(body: str, encoding: str, length: int, segments: int) -> None:
    info = analyze_sms(body)
    assert (info.encoding, info.length, info.segments) == (encoding, length, segments)


def test_forced_ucs2_counts_a_gsm7_body_in_utf16_units() -> None:
    # Exotel's EncodingType=unicode sends even plain text as UCS-2.
    assert analyze_sms("a" * 70, encoding="UCS-2") == SmsInfo("UCS-2", 70, 1, 70)
    assert analyze_sms("a" * 71, encoding="UCS-2").segments == 2
    assert analyze_sms("€", encoding="UCS-2").length == 1
    assert analyze_sms("a" * 161, encoding="GSM-7").segments == 2
    with pytest.raises(ValueError, match="outside the GSM-7 alphabet"):
        analyze_sms("ह", encoding="GSM-7")


def test_surrogate_pair_is_not_split_across_parts() -> None:
    body = "ह" * 66 + "🔥" + "ह" * 66  # 134 units: ceil(134 / 67) = 2 parts, really 3
    assert analyze_sms(body).length == 134
    assert analyze_sms(body).segments == 3


# --- body length ------------------------------------------------------------------------------


def _reference(body: str, encoding: str | None) -> SmsInfo:
    """Character by character, as the rules say: what analyze_sms's counting must agree with."""
    gsm7 = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body)
    if encoding == "GSM-7" and not gsm7:
        raise ValueError("outside GSM-7")
    if encoding != "UCS-2" and gsm7:
        name, costs, single, part = (
            "GSM-7",
            [2 if c in GSM7_EXTENSION else 1 for c in body],
            160,
            153,
        )
    else:
        name, costs, single, part = "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body], 70, 67
    segments, used = (0 if not costs else 1), 0
    if sum(costs) > single:
        for cost in costs:
            if used + cost > part:
                segments, used = segments + 1, 0
            used += cost
    return SmsInfo(name, sum(costs), segments, len(body))  # type: ignore[arg-type]


_SMS_CHARS = st.sampled_from(
    [*"aZ9 @£\n\r", *sorted(GSM7_EXTENSION), "é", "अ", "’", "`", "\x1b", "😀", "𝄞"]
)


@given(
    st.lists(_SMS_CHARS, max_size=400).map("".join)
    | st.builds(lambda c, n: c * n, _SMS_CHARS, st.integers(0, 340)),
    st.sampled_from([None, "GSM-7", "UCS-2"]),
)
def test_analyze_sms_agrees_with_counting_character_by_character(
    body: str, encoding: str | None
) -> None:
    try:
        expected = _reference(body, encoding)
    except ValueError:
        with pytest.raises(ValueError, match="outside the GSM-7 alphabet"):
            analyze_sms(body, encoding=encoding)  # type: ignore[arg-type]
        return
    assert analyze_sms(body, encoding=encoding) == expected  # type: ignore[arg-type]


def test_check_length_accepts_the_limit() -> None:
    check_length("x" * 2000, limit=2000)


def test_check_length_counts_python_characters_not_units() -> None:
    check_length("🔥" * 2000, limit=2000)


def test_too_long_names_template_length_and_limit() -> None:
    with pytest.raises(MessageTooLongError) as caught:
        check_length("x" * 2001, limit=2000, template="db_down.sms")
    message = str(caught.value)
    assert "'db_down.sms'" in message
    assert "2001" in message
    assert "2000" in message
    assert "shorten" in message
    assert caught.value.template == "db_down.sms"
    assert isinstance(caught.value, TemplateError)


def test_custom_limit() -> None:
    with pytest.raises(MessageTooLongError, match="161 characters long, over the limit of 160"):
        check_length("x" * 161, limit=160)


# --- DLT matching ----------------------------------------------------------------------------


def test_dlt_match_extracts_variables() -> None:
    body = "Dear Ravi Kumar, your OTP is 482913. It is valid for 10 minutes. -ACME"
    result = check_dlt(body, OTP_PATTERN)
    assert result.ok
    assert result.problem is None
    assert result.variables == ("Ravi Kumar", "482913")
    assert result.pattern == OTP_PATTERN


def test_dlt_placeholder_is_case_insensitive() -> None:
    assert check_dlt("Hi Ravi.", "Hi {#VAR#}.").variables == ("Ravi",)
    assert check_dlt("Hi Ravi.", "Hi {#Var#}.").ok


def test_dlt_variables_at_both_ends() -> None:
    result = check_dlt("482913 is your code, Ravi", "{#var#} is your code, {#var#}")
    assert result.variables == ("482913", "Ravi")


def test_dlt_empty_variable_is_allowed() -> None:
    assert check_dlt("Hi .", "Hi {#var#}.").variables == ("",)


def test_dlt_pattern_without_variables_must_match_exactly() -> None:
    pattern = "Maintenance tonight 23:00-01:00 IST. -ACME"
    assert check_dlt(pattern, pattern) == DltCheck(
        ok=True, pattern=pattern, problem=None, variables=()
    )
    longer = check_dlt(pattern + " Thanks", pattern)
    assert longer.problem is not None
    assert "' Thanks'" in longer.problem
    shorter = check_dlt("Maintenance tonight 23:00-01:00", pattern)
    assert shorter.problem is not None
    assert "character 31" in shorter.problem


def test_dlt_crlf_is_treated_as_lf() -> None:
    assert check_dlt("Line one\r\nCode 12", "Line one\nCode {#var#}").ok
    assert check_dlt("Line one\nCode 12", "Line one\r\nCode {#var#}").ok


def test_dlt_variable_may_contain_part_of_the_following_literal() -> None:
    # ", " starts the literal ", bye " but the first variable must run on past it.
    result = check_dlt("Hi a, b, bye c, end", "Hi {#var#}, bye {#var#}, end")
    assert result.variables == ("a, b", "c")


def test_dlt_literal_mismatch_says_where() -> None:
    body = "Dear Ravi, your OTP is 482913. It is valid for 15 minutes. -ACME"
    result = check_dlt(body, OTP_PATTERN)
    assert not result.ok
    assert result.variables == ()
    assert result.problem is not None
    assert "after variable 2" in result.problem
    assert "valid for 1⟨here⟩0 minutes" in result.problem
    assert "valid for 1⟨here⟩5 minutes" in result.problem


def test_dlt_prefix_mismatch_says_where() -> None:
    result = check_dlt("Hello Ravi, your OTP is 1. It is valid for 10 minutes. -ACME", OTP_PATTERN)
    assert result.problem is not None
    assert "character 0" in result.problem
    assert "⟨here⟩Dear" in result.problem
    assert "⟨here⟩Hello" in result.problem


def test_dlt_case_and_spacing_matter() -> None:
    assert not check_dlt(
        "Dear Ravi, your otp is 1. It is valid for 10 minutes. -ACME", OTP_PATTERN
    ).ok
    assert not check_dlt(
        "Dear Ravi,  your OTP is 1. It is valid for 10 minutes. -ACME", OTP_PATTERN
    ).ok


def test_dlt_trailing_extra_text() -> None:
    result = check_dlt("Dear R, your OTP is 1. It is valid for 10 minutes. -ACME Ltd", OTP_PATTERN)
    assert result.problem is not None
    assert "' Ltd'" in result.problem
    assert "goes on after the end" in result.problem


def test_dlt_variable_too_long() -> None:
    name = "R" * 31
    result = check_dlt(
        f"Dear {name}, your OTP is 1. It is valid for 10 minutes. -ACME", OTP_PATTERN
    )
    assert not result.ok
    assert result.problem is not None
    assert "variable 1 is 31 characters long" in result.problem
    assert "limit of 30" in result.problem


def test_dlt_cap_is_a_parameter() -> None:
    body = f"Dear {'R' * 31}, your OTP is 1. It is valid for 10 minutes. -ACME"
    assert check_dlt(body, OTP_PATTERN, max_var_length=None).ok
    assert check_dlt(body, OTP_PATTERN, max_var_length=31).ok
    assert not check_dlt(
        "Dear Ravi, your OTP is 1. It is valid for 10 minutes. -ACME", OTP_PATTERN, max_var_length=3
    ).ok


def test_dlt_cap_picks_a_reading_that_fits() -> None:
    # Two readings: ("a", "b, cccc") and ("a, b", "cccc"). Without a cap the first is preferred;
    # with a cap of 4 only the second fits, and the matcher must find it rather than give up.
    pattern = "{#var#}, {#var#}"
    assert check_dlt("a, b, cccc", pattern, max_var_length=None).variables == ("a", "b, cccc")
    assert check_dlt("a, b, cccc", pattern, max_var_length=4).variables == ("a, b", "cccc")
    assert not check_dlt("a, b, cccc", pattern, max_var_length=3).ok


def test_require_dlt_match_returns_the_check() -> None:
    result = require_dlt_match("Hi Ravi.", "Hi {#var#}.", template="hello.sms")
    assert result.variables == ("Ravi",)


def test_require_dlt_match_raises_naming_template_and_place() -> None:
    with pytest.raises(DltMismatchError) as caught:
        require_dlt_match(
            "Dear Ravi, your code is 1. It is valid for 10 minutes. -ACME",
            OTP_PATTERN,
            template="otp.sms",
        )
    message = str(caught.value)
    assert "'otp.sms'" in message
    assert OTP_PATTERN in message
    assert "⟨here⟩code is 1" in message
    assert caught.value.template == "otp.sms"


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("", "no literal text"),
        ("{#var#}", "no literal text"),
        ("{#var#} {#var#}", "no literal text"),
        ("Hi {#name#}", "unknown placeholder at character 3"),
        ("Hi {#var", "unknown placeholder at character 3"),
        ("Hi var#} there", "unknown placeholder at character 6"),
        ("Code {# var #}", "unknown placeholder"),
        ("Hi {#var#}{#var#}.", "placeholders 1 and 2 next to each other"),
    ],
)
def test_bad_patterns_are_rejected(pattern: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_dlt_pattern(pattern)
    with pytest.raises(ValueError, match=fragment):
        check_dlt("anything", pattern)


def test_parse_dlt_pattern_returns_literals() -> None:
    assert parse_dlt_pattern("{#var#} is your code, {#var#}") == ["", " is your code, ", ""]


@pytest.mark.parametrize("cap", [None, 30])
def test_pathological_dlt_input_is_fast(cap: int | None) -> None:
    # A regex of (.*?) groups backtracks through every way of splitting 2000 'a's between 60
    # variables before failing on the final 'b'.
    pattern = "a{#var#}" * 60 + "b"
    started = time.perf_counter()
    result = check_dlt("a" * 2000, pattern, max_var_length=cap)
    nearly = check_dlt("a" * 1999 + "b", pattern, max_var_length=cap)
    assert time.perf_counter() - started < 1.0
    assert not result.ok
    assert nearly.ok is (cap is None)


def test_many_short_variables_match_fast() -> None:
    pattern = " ".join(["{#var#} x"] * 100)
    body = " ".join(["y x"] * 100)
    started = time.perf_counter()
    result = check_dlt(body, pattern)
    assert time.perf_counter() - started < 1.0
    assert result.variables == ("y",) * 100
