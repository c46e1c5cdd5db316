"""India's rules for commercial SMS that any Indian provider's plugin applies: a body must match
the content template registered on the operators' DLT platform (TRAI's TCCCPR 2018), its
``{#var#}`` parts filled with values of at most 30 characters, or operators reject it (or send it
as promotional). Pure functions on strings, so a template is checked before anything is sent, in
tests and from the CLI.

The Exotel plugin checks every SMS with :func:`require_dlt_match`; a plugin for another Indian
provider (MSG91, Gupshup...) uses the same functions, so both apply the same rules.

Before go-live, ``notifykit doctor`` applies the rules a template can be checked against without
rendering it (:func:`dlt_template_issues`: at most the registered variables, none adjacent) and
finds the links an SMS carries (:func:`find_links`): since 1 October 2024 operators block an SMS
with a link (URL, APK, OTT link) that is not whitelisted on the DLT portal (TRAI's direction of
20 August 2024).

The template keys these rules read, ``dlt_template_id`` and ``dlt_pattern``, are declared here
(:class:`DltTemplateSettings`) and registered by notifykit itself (the built-in ``india``
plugin, :mod:`notifykit.channels.india`), so every Indian provider's plugin reads the same keys
whichever of them is installed.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from notifykit.config.settings import Settings, setting
from notifykit.errors import DltMismatchError
from notifykit.text.sms import template_label

if TYPE_CHECKING:
    from notifykit.text.outline import Outline

__all__ = [
    "DLT_LINK_RULE",
    "DltCheck",
    "DltIssue",
    "check_dlt",
    "dlt_template_issues",
    "dlt_variable_count",
    "find_links",
    "link_host",
    "parse_dlt_pattern",
    "require_dlt_match",
]

#: Why a link in an SMS to India needs the DLT portal, for messages that name the fix.
DLT_LINK_RULE = (
    "since 1 October 2024 Indian operators block an SMS carrying a link that is not whitelisted "
    "on the DLT portal (TRAI)"
)


_DLT_VAR = re.compile(r"\{#var#\}", re.IGNORECASE)
_DLT_TOKEN_PIECE = re.compile(r"\{#|#\}")


@dataclass(frozen=True)
class DltCheck:
    """The result of matching an SMS body against a DLT content template.

    ``variables`` holds the text that filled each ``{#var#}``, in order, when ``ok``; it is empty
    otherwise. ``problem`` explains a failure in words a person can act on: where the body first
    departs from the registered text, or which variable is too long.
    """

    ok: bool
    pattern: str
    problem: str | None
    variables: tuple[str, ...]


def _normalize_newlines(text: str) -> str:
    # Templates written on Windows and bodies pasted from the DLT portal differ only in line
    # endings; the operator compares the text, not the line-ending convention.
    return text.replace("\r\n", "\n")


def parse_dlt_pattern(pattern: str) -> list[str]:
    """Split a DLT content template into its literal parts: one more part than there are
    ``{#var#}`` placeholders (the first and last may be empty).

    Raises :class:`ValueError` for a pattern an operator would never have approved: no literal
    text, a stray ``{#`` or ``#}`` or an unknown placeholder such as ``{#name#}``, or two
    placeholders in a row (DLT rules forbid adjacent variables, and they could not be told apart
    when matching).
    ``{#var#}`` is recognised in any letter case.
    """
    return list(_parsed_pattern(pattern))


# A template's pattern is checked on every notification; parse each one once. Bounded, so a
# program that builds patterns on the fly does not grow without limit.
@functools.lru_cache(maxsize=1024)
def _parsed_pattern(pattern: str) -> tuple[str, ...]:
    text = _normalize_newlines(pattern)
    # Blank out the valid placeholders (keeping offsets) so any "{#" or "#}" left is a stray one.
    masked = _DLT_VAR.sub(lambda m: "\0" * len(m.group()), text)
    stray = _DLT_TOKEN_PIECE.search(masked)
    if stray is not None:
        offset = stray.start()
        around = text[max(0, offset - 10) : offset + 12]
        raise ValueError(
            f"DLT pattern has an unbalanced or unknown placeholder at character {offset} "
            f"(near {around!r}): the placeholder DLT uses is {{#var#}} (any letter case); "
            "copy the template text from the DLT portal."
        )
    literals = _DLT_VAR.split(text)
    if not "".join(literals).strip():
        raise ValueError(
            f"DLT pattern {pattern!r} has no literal text, only placeholders: a DLT content "
            "template must contain fixed text around its {#var#} placeholders."
        )
    for index, literal in enumerate(literals[1:-1], start=1):
        if literal == "":
            raise ValueError(
                f"DLT pattern {pattern!r} has placeholders {index} and {index + 1} next to each "
                "other: DLT does not allow two {#var#} in a row; put fixed text (at least a space) "
                "between them."
            )
    return tuple(literals)


def _occurrences(text: str, literal: str, start: int, end: int) -> list[int]:
    """Every position in [start, end] at which ``literal`` begins and fits before ``end``."""
    if literal == "":
        return list(range(start, end + 1))
    found = []
    pos = text.find(literal, start, end)
    while pos != -1:
        found.append(pos)
        pos = text.find(literal, pos + 1, end)
    return found


def _match_dlt(body: str, literals: Sequence[str], cap: int | None) -> tuple[str, ...] | None:
    """Variable values for one way ``body`` matches the pattern with every variable at most ``cap``
    characters long, or None when there is none.

    Each variable matches any text, so this is wildcard matching. Rather than a regex of ``(.*?)``
    groups, whose backtracking is polynomial in the body length with one factor per variable, it
    walks the literals in order, keeping the set of positions where the next variable can start;
    a literal's candidate positions come from ``str.find`` and each is joined to the earliest
    reachable start within ``cap`` characters, by bisection. Among several matches it prefers the
    one whose earlier variables are shortest, as a non-greedy regex would.
    """
    n = len(body)
    first, last = literals[0], literals[-1]
    if len(literals) == 1:
        return () if body == first else None
    if not body.startswith(first) or len(first) + len(last) > n or not body.endswith(last):
        return None
    last_start = n - len(last)
    forced = _forced_match(body, literals, len(first), last_start)
    if forced is not None:
        return forced if cap is None or all(len(v) <= cap for v in forced) else None
    # starts[i]: sorted positions where variable i can begin; back[i][pos] = where the variable that
    # ended just before the literal leading to ``pos`` began.
    starts: list[int] = [len(first)]
    back: list[dict[int, int]] = []
    for index, literal in enumerate(literals[1:], start=1):
        is_last = index == len(literals) - 1
        candidates = [last_start] if is_last else _occurrences(body, literal, starts[0], last_start)
        links: dict[int, int] = {}
        for pos in candidates:
            lowest = 0 if cap is None else pos - cap
            i = bisect.bisect_left(starts, lowest)
            if i < len(starts) and starts[i] <= pos:
                links[pos + len(literal)] = starts[i]
        if not links:
            return None
        back.append(links)
        starts = sorted(links)
    values: list[str] = []
    end = n
    for links in reversed(back):
        begin = links[end]
        literal_start = end - len(literals[len(back) - len(values)])
        values.append(body[begin:literal_start])
        end = begin
    return tuple(reversed(values))


def _forced_match(
    body: str, literals: Sequence[str], start: int, last_start: int
) -> tuple[str, ...] | None:
    """The variables when ``body`` can be read against the pattern in one way only, which is
    the usual case (one variable; or literals that each occur once in what is left of the body);
    ``None`` when it cannot be read at all or may be read in several ways (then
    :func:`_match_dlt` chooses). ``body`` starts with the first literal and ends with the last,
    at ``last_start``. A middle literal found once in the part of the body where any reading
    must place it sits there in every reading; so, when each is, the variables between them
    are the only ones there are."""
    values: list[str] = []
    pos = start
    for literal in literals[1:-1]:
        found = body.find(literal, pos, last_start)
        if found == -1 or body.find(literal, found + 1, last_start) != -1:
            return None
        values.append(body[pos:found])
        pos = found + len(literal)
    values.append(body[pos:last_start])
    return tuple(values)


def _snippet(text: str, at: int, before: int = 20, after: int = 25) -> str:
    start = max(0, at - before)
    head = "…" if start > 0 else ""
    tail = "…" if at + after < len(text) else ""
    return f"{head}{text[start:at]}⟨here⟩{text[at : at + after]}{tail}"


def _departure(body: str, literals: Sequence[str]) -> str:
    """Explain where ``body`` first departs from the pattern, assuming no variable length cap."""
    first = literals[0]
    if not body.startswith(first):
        at = _common_prefix(first, body)
        return (
            f"the body departs from the registered text at character {at}: the template has "
            f"{_snippet(first, at)!r} but the body has {_snippet(body, at)!r}"
        )
    pos = len(first)
    if len(literals) == 1:
        return (
            f"the body goes on after the end of the registered text: it has {body[pos:]!r} after "
            f"{_snippet(first, pos, after=0)!r}; remove it or register it"
        )
    for number, literal in enumerate(literals[1:], start=1):
        is_last = number == len(literals) - 1
        found = body.find(literal, pos)
        if found != -1 and not is_last:
            pos = found + len(literal)
            continue
        if found != -1 and is_last:
            tail = body.rfind(literal, pos)
            extra = body[tail + len(literal) :]
            return (
                f"the body goes on after the end of the registered text: it has {extra!r} after "
                f"{_snippet(literal, len(literal), after=0)!r}; remove it or register it"
            )
        # The literal after variable ``number`` is nowhere in the rest of the body: point at the
        # place where most of it matches, which is where the text was most likely edited.
        best_at, best_len = pos, -1
        for start in range(pos, len(body) + 1):
            length = _common_prefix(literal, body[start : start + len(literal)])
            if length > best_len:
                best_at, best_len = start, length
        where = best_at + best_len
        if best_len <= 0:
            return (
                f"after variable {number} the template continues with {literal!r}, which does "
                f"not appear in the rest of the body {_snippet(body, pos, before=10)!r}"
            )
        return (
            f"the body departs from the registered text at character {where}: after variable "
            f"{number} the template has {_snippet(literal, best_len)!r} but the body has "
            f"{_snippet(body, where)!r}"
        )
    raise AssertionError(
        "unreachable: the pattern matched without a length cap"
    )  # pragma: no cover


def _shorten(value: str, width: int = 40) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def _common_prefix(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def check_dlt(body: str, pattern: str, *, max_var_length: int | None = 30) -> DltCheck:
    """Match an SMS body against a DLT content template, as the Indian operators' scrubbing does.

    The pattern is the registered text with ``{#var#}`` placeholders. Its literal text must appear
    in the body exactly (letter case, punctuation and spacing too; ``\\r\\n`` counts as ``\\n``)
    and each placeholder stands for any text of at most ``max_var_length`` characters (DLT's rule
    is 30; ``None`` lifts the cap). An empty variable is accepted here, although a real message
    should not leave one empty. Raises :class:`ValueError` if the pattern itself is malformed (see
    :func:`parse_dlt_pattern`).

    >>> check_dlt("Your OTP is 4821. -ACME", "Your OTP is {#var#}. -ACME").variables
    ('4821',)
    """
    literals = _parsed_pattern(pattern)
    text = _normalize_newlines(body)
    values = _match_dlt(text, literals, max_var_length)
    if values is not None:
        return DltCheck(ok=True, pattern=pattern, problem=None, variables=values)
    if max_var_length is not None:
        uncapped = _match_dlt(text, literals, None)
        if uncapped is not None:
            # The earliest-variables-shortest match is one valid reading; some variable in it must
            # be over the cap, or the capped search would have found it.
            number, value = next(
                (i, v) for i, v in enumerate(uncapped, start=1) if len(v) > max_var_length
            )
            problem = (
                f"variable {number} is {len(value)} characters long ({_shorten(value)!r}), "
                f"over the DLT limit of {max_var_length} characters per variable; shorten the "
                "value"
            )
            return DltCheck(ok=False, pattern=pattern, problem=problem, variables=())
    return DltCheck(ok=False, pattern=pattern, problem=_departure(text, literals), variables=())


def require_dlt_match(
    body: str, pattern: str, *, template: str | None = None, max_var_length: int | None = 30
) -> DltCheck:
    """Like :func:`check_dlt`, but raise :class:`~notifykit.errors.DltMismatchError` when the body
    does not match, naming the template and the registered pattern."""
    result = check_dlt(body, pattern, max_var_length=max_var_length)
    if not result.ok:
        source = f"The SMS rendered from {template_label(template)}" if template else "The SMS"
        raise DltMismatchError(
            f"{source} does not match its DLT template {pattern!r}: {result.problem}. Operators "
            "reject (or send as promotional) a body that differs from the registered text, so edit "
            "the template until only the {#var#} parts differ.",
            template=template,
        )
    return result


def dlt_variable_count(pattern: str) -> int:
    """How many ``{#var#}`` a DLT content template has (raises :class:`ValueError` for a
    malformed one, as :func:`parse_dlt_pattern`)."""
    return len(_parsed_pattern(pattern)) - 1


@dataclass(frozen=True)
class DltIssue:
    """A DLT rule a template breaks, found in its source: ``line`` is in the template file."""

    severity: Literal["error", "warning"]
    message: str
    line: int | None = None


def dlt_template_issues(outline: Outline, pattern: str | None, label: str) -> list[DltIssue]:
    """What DLT's rules say of a template, read from its source (``label`` names it in the
    messages, e.g. ``db_down.sms (templates/db_down.sms.j2)``):

    - two parts that vary with nothing between them (``{{ a }}{{ b }}``, or an expression next to
      an ``{% if %}``): DLT forbids two ``{#var#}`` in a row, so both fill one variable, 30
      characters at most together (a warning);
    - with the registered ``pattern``: more stretches of varying text than the pattern has
      ``{#var#}``: each must fall in a variable of the registered text, so an extra one changes
      the fixed text and operators reject the SMS (an error).

    Whether the fixed text itself matches the registered text is checked on a rendered body
    (:func:`check_dlt`; ``config check`` renders each template with sample values).
    """
    issues: list[DltIssue] = []
    runs = outline.variables()
    for run in runs:
        if len(run) > 1:
            lines = sorted({part.line for part in run})
            where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
            issues.append(
                DltIssue(
                    "warning",
                    f"{label} has {len(run)} varying parts with no fixed text between them "
                    f"({where}): DLT forbids two {{#var#}} in a row, so they fill one together, "
                    "30 characters at most for all of them; put fixed text (a word, a colon) "
                    "between them, or join them into one value",
                    lines[0],
                )
            )
    if pattern is None:
        return issues
    try:
        registered = dlt_variable_count(pattern)
    except ValueError:
        return issues  # a malformed pattern is a config problem of its own
    if len(runs) > registered:
        firsts = list(dict.fromkeys(str(run[0].line) for run in runs))
        starts = f"line{'s' if len(firsts) > 1 else ''} {', '.join(firsts)}"
        issues.append(
            DltIssue(
                "error",
                f"{label} has {len(runs)} stretches of text that vary (starting on {starts}) "
                f"but its registered DLT text has {registered} {{#var#}}: each must fall in a "
                "{#var#} of the registered text, so the extra ones change its fixed text and "
                "operators reject the SMS; make them fixed text, or register a template with "
                "more variables and update dlt_pattern and dlt_template_id",
                runs[0][0].line,
            )
        )
    return issues


# A link as an SMS carries it: a URL with a scheme, or a bare www. host. DLT placeholders
# ({#var#}), quotes and brackets end it; trailing punctuation is the sentence's, not the link's.
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'{}|\\^`\[\]]+")
_TRAILING = ".,;:!?)"


def find_links(texts: Iterable[str]) -> list[str]:
    """Every link in ``texts`` (``https://...``, ``http://...``, ``www.…``), each once, in
    order of appearance."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _LINK.finditer(text):
            link = match.group().rstrip(_TRAILING)
            if link_host(link):
                found.setdefault(link)
    return list(found)


def link_host(link: str) -> str | None:
    """The host of a link (``alerts.example.com``), lower case; ``None`` when it has none."""
    try:
        host = urlsplit(link if "://" in link else f"http://{link}").hostname
    except ValueError:
        return None
    return host.lower() if host else None


def dlt_pattern_problems(pattern: str) -> list[str]:
    """What is wrong with a DLT content template as registered (``{#var#}`` placeholders)."""
    try:
        parse_dlt_pattern(pattern)
    except ValueError as err:
        return [str(err)]
    return []


class DltTemplateSettings(Settings):
    """The ``templates.<name>`` keys of India's DLT registration, for every Indian SMS provider."""

    dlt_template_id: str | None = setting(
        default=None,
        pattern=r"\d{1,30}",
        expected="a numeric DLT template id",
        doc="the id the DLT platform gave the template, sent with every SMS from it",
    )
    dlt_pattern: str | None = setting(
        default=None,
        check=dlt_pattern_problems,
        doc="the text registered on the DLT portal ({#var#} placeholders); every rendered SMS "
        "must match it",
    )
