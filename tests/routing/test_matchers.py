"""Matchers: Alertmanager's syntax and semantics (anchored regexes, missing labels, AND), the
severity ordering extension, RE2 compatibility checks, and error messages that say the fix."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifykit.routing import Matcher, MatcherError, parse_matcher, parse_matchers
from notifykit.routing.matchers import matches_all, parse_matcher_list

LABELS = {"event": "db.down", "severity": "error", "host": "db1", "service": "postgres"}


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('severity="critical"', "severity", "=", "critical"),
        ("severity=critical", "severity", "=", "critical"),
        ('  host != "db1" ', "host", "!=", "db1"),
        ('service=~"db|cache"', "service", "=~", "db|cache"),
        ('service!~"db.*"', "service", "!~", "db.*"),
        ('severity>="error"', "severity", ">=", "error"),
        ("severity<warning", "severity", "<", "warning"),
        ('msg="say \\"hi\\""', "msg", "=", 'say "hi"'),
        ('path="C:\\\\temp"', "path", "=", "C:\\temp"),
        ('line="a\\nb"', "line", "=", "a\nb"),
        # Alertmanager's classic parser keeps any other backslash: both spellings are one regex.
        ('event=~"batch\\..*"', "event", "=~", "batch\\..*"),
        ('event=~"batch\\\\..*"', "event", "=~", "batch\\..*"),
        ('host=""', "host", "=", ""),
        ("host=", "host", "=", ""),
        ('"my.label"="x"', "my.label", "=", "x"),
        ("team = db ops ", "team", "=", "db ops"),
    ],
)
def test_parse_one(text: str, name: str, op: str, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


def test_braces_form_and_comma_lists() -> None:
    expected = [Matcher("a", "=", "x"), Matcher("b", "=~", "y|z")]
    assert parse_matchers('{a="x", b=~"y|z"}') == expected
    assert parse_matchers('a="x", b=~"y|z"') == expected
    assert parse_matchers("{a=x,b=~y|z}") == expected
    assert parse_matchers('{a="x,}", b=~"y|z",}') == [Matcher("a", "=", "x,}"), expected[1]]
    assert parse_matcher_list(['a="x"', '{b=~"y|z"}']) == expected


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        # equality, and a missing label is the empty string
        ('host="db1"', True),
        ('host="db2"', False),
        ('host!="db2"', True),
        ('rack=""', True),
        ('rack!=""', False),
        ('rack=~""', True),
        ('rack=~".*"', True),
        ('rack!~".+"', True),
        ('rack=~".+"', False),
        ('rack!="r1"', True),
        # regexes are anchored at both ends
        ('service=~"postgres"', True),
        ('service=~"post"', False),
        ('service=~"gres"', False),
        ('service=~".*gres"', True),
        ('service=~"db|postgres"', True),
        ('service=~"db|post"', False),  # the anchoring wraps the alternation: ^(?:db|post)$
        ('service!~"post"', True),
        ('service!~"post.*"', False),
        ('event=~"db\\..*"', True),
        ('event=~"db\\.up"', False),
        ('event=~"db.down"', True),
        ('event=~"(?i)DB\\.DOWN"', True),
        # event and severity are labels
        ('event="db.down"', True),
        ('severity="error"', True),
        # the severity ordering extension (info < warning < error < critical)
        ('severity>="error"', True),
        ('severity>="critical"', False),
        ('severity>"warning"', True),
        ('severity>"error"', False),
        ('severity<="error"', True),
        ('severity<"error"', False),
        ('severity<"critical"', True),
    ],
)
def test_matching_table(text: str, matches: bool) -> None:
    assert parse_matcher(text).matches(LABELS) is matches


def test_a_list_is_an_and_and_an_empty_list_matches_everything() -> None:
    both = parse_matchers('severity="error", host="db1"')
    assert matches_all(both, LABELS)
    assert not matches_all([*both, Matcher("host", "=", "db2")], LABELS)
    assert matches_all([], LABELS)


def test_ordering_never_matches_a_label_that_is_not_a_severity() -> None:
    assert not parse_matcher('severity>="info"').matches({"severity": "urgent"})
    assert not parse_matcher('severity<="critical"').matches({})


def test_ascii_classes_as_in_re2() -> None:
    # Python's \d would match Arabic-Indic digits; RE2's (and so ours) does not.
    assert parse_matcher('code=~"\\d+"').matches({"code": "42"})
    assert not parse_matcher('code=~"\\d+"').matches({"code": "٤٢"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity=="critical"', "'==' is not an operator: write '='"),
        ("severity", 'no operator after the label name: write severity="value"'),
        ('severity:"critical"', "no operator at ':\"critical\"'"),
        ('severity="critical', "has no closing quote: add one"),
        ('host>="db1"', 'the ordering operators compare severities only; write severity>="error"'),
        (
            'severity>="urgent"',
            "'urgent' is not a severity: write one of info, warning, error, critical",
        ),
        ('{a="x"', "missing the closing '}'"),
        ('{a="x"} b', "unexpected 'b' after the closing '}'"),
        ('a="x" b="y"', "separate matchers with ','"),
        ('a=x"y', "quote the whole value"),
        ("", 'no matcher in it: write label="value"'),
        ("{}", "no matcher in it"),
        ('1abc="x"', 'quote any other name: "my.label"="x"'),
        ('a=~"("', "regex '(' is invalid"),
        (
            'a=~"(x)\\1"',
            "uses a backreference \\1, which Alertmanager's RE2 engine does not support",
        ),
        ('a=~"x(?=y)"', "lookahead"),
        ('a=~"(?<!x)y"', "negative lookbehind"),
        ('a=~"(?P<n>x)(?P=n)"', "named backreference"),
        ('a=~"(?>x)"', "atomic group"),
        ('a=~"x*+"', "possessive quantifier"),
    ],
)
def test_errors_name_the_problem_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers(text)
    assert expected in str(caught.value)


def test_re2_scan_ignores_escaped_and_bracketed_lookalikes() -> None:
    # "(?=" inside a class and an escaped "(" are plain characters; "\\1" is an escaped backslash.
    assert parse_matcher('a=~"[(?=]x"').matches({"a": "=x"})
    escaped_paren = parse_matcher(r'a=~"\(?x"')  # the regex \(?x: an optional "(" then x
    assert escaped_paren.matches({"a": "(x"}) and escaped_paren.matches({"a": "x"})
    backslash_one = parse_matcher(r'a=~"\\\\1"')  # the regex \\1: a backslash, then 1
    assert backslash_one.value == "\\\\1" and backslash_one.matches({"a": "\\1"})
    assert parse_matcher('a=~"[]1]+"').matches({"a": "]1"})


def test_parse_matcher_wants_exactly_one() -> None:
    with pytest.raises(MatcherError, match="expected one matcher, found 2"):
        parse_matcher('a="x", b="y"')


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(name=_names, op=st.sampled_from(["=", "!="]), value=_values)
def test_str_round_trips(name: str, op: str, value: str) -> None:
    matcher = Matcher(name, op, value)
    assert parse_matcher(str(matcher)) == matcher
    assert matcher.matches({name: value}) is (op == "=")


@given(text=st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_matcher_error(text: str) -> None:
    try:
        found = parse_matchers(text)
    except MatcherError:
        return
    assert found and all(isinstance(m, Matcher) for m in found)
    assert parse_matchers(", ".join(str(m) for m in found)) == found  # what it read re-reads
