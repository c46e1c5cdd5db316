"""Label matchers in Prometheus Alertmanager's syntax: ``label="value"``, ``!=``, ``=~``, ``!~``.

A matcher tests one label of an alert's label set (its ``labels`` plus ``event`` and ``severity``);
a list of matchers is an AND. As in Alertmanager:

* regular expressions are anchored at both ends (``service=~"db|cache"`` matches ``db`` and
  ``cache``, not ``mydb``; write ``.*db.*`` to match anywhere);
* a missing label is the empty string, so ``host=""`` and ``host!~".+"`` match alerts without a
  ``host`` label;
* one string may hold several matchers, with or without PromQL braces:
  ``{severity="critical", service=~"db|cache"}``;
* values may be unquoted (``severity=critical``) when they hold no ``,``, ``}``, ``"`` or spaces
  at the ends.

notifykit adds ordering for severities: ``severity>="error"`` (and ``>``, ``<=``, ``<``) compares by
:data:`~notifykit.channels.SEVERITIES` order (``info < warning < error < critical``).

Regexes run on Python's :mod:`re` (``fullmatch``, ASCII classes), not Go's RE2. The two agree on
everything routing needs; the constructs RE2 refuses and Python accepts (backreferences, lookahead
and lookbehind, atomic groups, possessive quantifiers, conditionals) are rejected here too, so a
matcher behaves the same if it is copied into an Alertmanager config. ``\\d``, ``\\w``, ``\\s`` and
``\\b`` are ASCII-only, as in RE2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from notifykit.model import SEVERITIES, severity_rank

__all__ = [
    "OPERATORS",
    "Matcher",
    "MatcherError",
    "matches_all",
    "parse_matcher",
    "parse_matchers",
]

#: every operator, longest first (the parser tries them in this order)
OPERATORS: tuple[str, ...] = ("=~", "!~", "!=", ">=", "<=", "=", ">", "<")
_ORDERING = frozenset({">=", "<=", ">", "<"})
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR_HELP = "= != =~ !~ (and >= > <= < for severity)"


class MatcherError(ValueError):
    """A matcher string that cannot be parsed, or a regex that cannot be used. The message names
    the problem and the fix."""


@dataclass(frozen=True)
class Matcher:
    """One label test: ``name`` ``op`` ``value``. Build with :func:`parse_matcher`."""

    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise MatcherError(f"unknown operator {self.op!r}: use one of {_OPERATOR_HELP}")
        if self.op in _ORDERING:
            if self.name != "severity":
                raise MatcherError(
                    f"{self.name}{self.op}{_quote(self.value)}: the ordering operators compare "
                    f'severities only; write severity{self.op}"error", or use = != =~ !~ for '
                    f"{self.name!r}"
                )
            if self.value not in SEVERITIES:
                raise MatcherError(
                    f"{self.value!r} is not a severity: write one of {', '.join(SEVERITIES)}"
                )
        if self.op in ("=~", "!~") and self._regex is None:
            object.__setattr__(self, "_regex", compile_regex(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set passes this test (a missing label is ``""``)."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        if self.op in ("=~", "!~"):
            assert self._regex is not None
            found = self._regex.fullmatch(actual) is not None
            return found if self.op == "=~" else not found
        # Ordering: an alert's severity is always one of ours; anything else never matches.
        if actual not in SEVERITIES:
            return False
        left, right = severity_rank(actual), severity_rank(self.value)
        return {
            ">=": left >= right,
            ">": left > right,
            "<=": left <= right,
            "<": left < right,
        }[self.op]

    def __str__(self) -> str:
        name = self.name if _LABEL_NAME.fullmatch(self.name) else _quote(self.name)
        return f"{name}{self.op}{_quote(self.value)}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """A list of matchers is an AND (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# -- regexes -----------------------------------------------------------------------------------

# What RE2 refuses and Python's re accepts, found by a scan that skips escapes and classes.
_GROUP_PREFIXES = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?P=", "a named backreference (?P=name)"),
    ("(?(", "a conditional (?(...)...)"),
    ("(?>", "an atomic group (?>...)"),
    ("(?#", "a comment group (?#...)"),
)


def _re2_problem(pattern: str) -> str | None:
    """The first construct in ``pattern`` that RE2 (Alertmanager's engine) does not support."""
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if not in_class and nxt in "123456789":
                return f"a backreference \\{nxt}"
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            i += 1
            continue
        if char == "[":
            in_class = True
            i += 1
            # A ']' (or '^]') right after '[' is a literal member of the class.
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            continue
        if char == "(":
            for prefix, what in _GROUP_PREFIXES:
                if pattern.startswith(prefix, i):
                    return what
        if char in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            return f"a possessive quantifier {char}+"
        i += 1
    return None


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile a matcher regex the way Alertmanager anchors it (use with ``fullmatch``).

    :raises MatcherError: not a valid regex, or it uses something RE2 does not support.
    """
    problem = _re2_problem(pattern)
    if problem is not None:
        raise MatcherError(
            f"regex {pattern!r} uses {problem}, which Alertmanager's RE2 engine does not "
            "support: rewrite it without (for example as two matchers, or with !~)"
        )
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as err:
        raise MatcherError(
            f"regex {pattern!r} is invalid: {err} (in a double-quoted value write \\\\ for a "
            'backslash, \\" for a quote)'
        ) from None


# -- parsing -----------------------------------------------------------------------------------


class _Scanner:
    """A cursor over one matcher string; errors quote the whole string and the position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> MatcherError:
        return MatcherError(f"matcher {self.text!r}: {message}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def name(self) -> str:
        if self.peek() == '"':
            return self.quoted("label name")
        match = _LABEL_NAME.match(self.text, self.pos)
        if match is None:
            rest = self.text[self.pos :] or "the end"
            raise self.fail(
                f"expected a label name at {rest!r}: names are letters, digits and _ "
                '(quote any other name: "my.label"="x")'
            )
        self.pos = match.end()
        return match.group(0)

    def operator(self, name: str) -> str:
        if self.text.startswith("==", self.pos):
            raise self.fail("'==' is not an operator: write '=' (as in severity=\"critical\")")
        for op in OPERATORS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        rest = self.text[self.pos :]
        found = f"at {rest!r}" if rest else "after the label name"
        raise self.fail(f'no operator {found}: write {name}="value" (operators: {_OPERATOR_HELP})')

    def quoted(self, what: str) -> str:
        # Alertmanager's classic parser: \\ \" and \n are escapes; any other backslash stays
        # as written, so "batch\..*" and "batch\\..*" both mean the regex batch\..*.
        assert self.peek() == '"'
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                if nxt in '\\"':
                    out.append(nxt)
                elif nxt == "n":
                    out.append("\n")
                else:
                    out.append(char + nxt)
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.fail(
            f"the {what} starting at {self.text[start:]!r} has no closing quote: add one "
            '(write \\" for a quote inside it)'
        )

    def value(self, braces: bool) -> str:
        if self.peek() == '"':
            return self.quoted("value")
        start = self.pos
        stops = ",}" if braces else ","
        while self.pos < len(self.text) and self.text[self.pos] not in stops:
            if self.text[self.pos] == '"':
                raise self.fail(
                    f"a quote inside the unquoted value {self.text[start:]!r}: quote the whole "
                    'value ("...")'
                )
            self.pos += 1
        return self.text[start : self.pos].strip()


def parse_matchers(text: str) -> list[Matcher]:
    """Every matcher in one string: ``a="x"``, ``a="x", b=~"y"`` or ``{a="x", b=~"y"}``.

    :raises MatcherError: with a message naming the problem and the fix.
    """
    scanner = _Scanner(text)
    scanner.skip_space()
    braces = scanner.peek() == "{"
    if braces:
        scanner.pos += 1
    result: list[Matcher] = []
    while True:
        scanner.skip_space()
        if braces and scanner.peek() == "}":
            scanner.pos += 1
            break
        if scanner.at_end():
            if braces:
                raise scanner.fail("missing the closing '}'")
            break
        name = scanner.name()
        scanner.skip_space()
        op = scanner.operator(name)
        scanner.skip_space()
        value = scanner.value(braces)
        try:
            result.append(Matcher(name, op, value))
        except MatcherError as err:
            raise scanner.fail(str(err)) from None
        scanner.skip_space()
        if scanner.peek() == ",":
            scanner.pos += 1
            continue
        if braces and scanner.peek() == "}":
            continue
        if not scanner.at_end():
            raise scanner.fail(
                f"unexpected {scanner.text[scanner.pos :]!r} after {result[-1]}: separate "
                "matchers with ',' (or give each its own list item)"
            )
    scanner.skip_space()
    if not scanner.at_end():
        raise scanner.fail(f"unexpected {scanner.text[scanner.pos :]!r} after the closing '}}'")
    if not result:
        raise scanner.fail('no matcher in it: write label="value"')
    return result


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher. :raises MatcherError: none, several, or malformed."""
    found = parse_matchers(text)
    if len(found) != 1:
        raise MatcherError(
            f"matcher {text!r}: expected one matcher, found {len(found)}: give each its own "
            "list item"
        )
    return found[0]


def parse_matcher_list(items: Sequence[str]) -> list[Matcher]:
    """A ``matchers:`` list: each item may hold one or several matchers; all are ANDed."""
    result: list[Matcher] = []
    for item in items:
        result.extend(parse_matchers(item))
    return result
