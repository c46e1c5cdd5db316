"""Reading YAML config nodes: the :class:`Checker` that records every problem (file, line, key
path) instead of stopping at the first, ``${VAR}`` substitution, secrets collected and scrubbed,
and the dry run's unset variables. What a node becomes is said by the settings declarations
(:mod:`notifykit.config.settings`) and done by the one converter (:mod:`notifykit.config.convert`);
this module is the layer under both: a plugin never sees it.

Values are read from the YAML *nodes* (``yaml.compose``), not from loaded Python objects, which is what
gives line numbers and lets a string field keep the source text of an unquoted number (a 19-digit DLT
id stays exactly as written).

Environment substitution, in string values only (keys, numbers and booleans are never substituted):

``${NAME}``
    The value of environment variable ``NAME`` (letters, digits and ``_``, not starting with a
    digit). Unset is a problem naming the variable; set but empty reads as an unset key (its
    default applies, a required key is a problem).
``${NAME:-WORD}``
    ``NAME`` if it is set and not empty, else ``WORD``, which may itself contain references:
    ``${A:-${B:-fallback}}`` is A, else B, else ``fallback``. ``WORD`` is only expanded when it is
    used, so an unset ``B`` is no problem while ``A`` is set. ``WORD`` ends at the first ``}`` that
    closes neither a reference of its own nor a literal ``$${`` (``${A:-$${B}}`` defaults to the
    text ``${B}``); it cannot otherwise contain a ``}``. References nest at most
    :data:`MAX_ENV_NESTING` deep.
``$${``
    A literal ``${`` (anywhere, defaults included). A ``$`` not followed by ``{`` is just a ``$``.

Anything else starting with ``${`` (``${}``, ``${1X}``, ``${A-b}``, a reference without its ``}``)
is a problem saying how to write a reference. A ``}`` outside any reference is ordinary text.

Runs that send nothing (``load_config(dry_run=True)``: ``--dry-run``, ``routes tree``, ``routes
test``, ``config check``) need no environment: an unset ``${NAME}`` is a warning there, not a
problem, and the key reads as :class:`UnsetEnv` (the text ``<unset:${NAME}>``, so any output shows
it unset) where a string or phone number is expected, as its default elsewhere (a required
number or name still needs it). The problems a sending run would report are kept
(``Config.unset``): a Notifier that may send refuses such a config with them.

Secrets: a value substituted into a key declared ``secret`` (and the value of every
variable whose name looks like a secret: ``*TOKEN*``, ``*SECRET*``, ``*PASSW*``, ``*API_KEY*``...)
is collected by the :class:`Checker` and scrubbed (``***``) from every problem message, wherever
else it is echoed: a token written into ``region:`` by mistake never reaches the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from notifykit.errors import ConfigProblem

__all__ = [
    "INVALID",
    "UNSET",
    "Checker",
    "UnsetEnv",
    "describe",
    "did_you_mean",
    "join",
    "mapping_items",
    "parse_env_refs",
    "parse_phone",
    "phone_hint",
    "scrubber",
]


class _Invalid:
    """The value of something that failed validation (its problem is already recorded)."""

    _instance: _Invalid | None = None

    def __new__(cls) -> _Invalid:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Any = _Invalid()


class _Unset:
    """What a string becomes when it is empty after ``${VAR:-}`` substitution: the key counts as
    unset (its default applies; a required key is a problem)."""

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class UnsetEnv(str):
    """The value of a key whose ``${VAR}`` is not set (or set but empty), in a run that sends
    nothing: the text ``<unset:${VAR}>`` (``<unset>`` for a missing key), which is what any
    output shows. ``names`` are the variables. Never a secret, never sent."""

    names: tuple[str, ...]

    def __new__(cls, names: Iterable[str] = ()) -> UnsetEnv:
        names = tuple(names)
        text = "<unset:" + ",".join(f"${{{name}}}" for name in names) + ">" if names else "<unset>"
        self = super().__new__(cls, text)
        self.names = names
        return self

    def __getnewargs__(self) -> tuple[tuple[str, ...]]:  # type: ignore[override]
        return (self.names,)  # pickle and copy rebuild it from its names, not from its text


def env_names(text: str) -> list[str]:
    """The variables ``text`` refers to (defaults included), in order, once each."""
    try:
        parts = parse_env_refs(text)
    except ValueError:
        return []
    names: list[str] = []

    def walk(items: tuple[str | _EnvRef, ...]) -> None:
        for part in items:
            if isinstance(part, _EnvRef):
                if part.name not in names:
                    names.append(part.name)
                if part.default is not None:
                    walk(part.default)

    walk(parts)
    return names


_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables whose values are scrubbed from messages even when no secret field reads them: a token
# referenced only by a mistyped key must not be printed either.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)

MAX_ENV_NESTING = 8
"""How deep ``${A:-${B:-...}}`` may nest (a real config needs two or three levels)."""

SECRET_HINT = "or run with --dry-run (sends nothing) or --sandbox (the local simulator)"
"""What a problem about a missing secret suggests besides setting it."""

INLINE_SECRET_FIX = "use ${ENV_VAR} instead of writing the secret in the file"


class _EnvSyntaxError(ValueError):
    """A malformed ``${...}`` reference; the message is the offending text."""


@dataclass(frozen=True)
class _EnvRef:
    name: str
    #: the parsed ``:-`` default (text and references), ``None`` without one
    default: tuple[str | _EnvRef, ...] | None


def parse_env_refs(text: str) -> tuple[str | _EnvRef, ...]:
    """Parse a string into literal text and ``${...}`` references (see the module docstring).

    :raises ValueError: a malformed reference (its message is the offending text).
    """
    parts, end = _parse_parts(text, 0, 0)
    assert end == len(text)
    return parts


def _parse_parts(text: str, pos: int, depth: int) -> tuple[tuple[str | _EnvRef, ...], int]:
    """Parts from ``pos`` up to the end (depth 0) or the ``}`` closing a default (depth > 0);
    returns them and the index of that ``}`` (or ``len(text)``)."""
    parts: list[str | _EnvRef] = []
    literal: list[str] = []
    escaped = 0  # literal ${ opened in a default, whose } are literal too: ${A:-$${B}} is "${B}"
    i = pos
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            escaped += 1
            i += 3
        elif text.startswith("${", i):
            if literal:
                parts.append("".join(literal))
                literal = []
            ref, i = _parse_ref(text, i, depth + 1)
            parts.append(ref)
        elif text[i] == "}" and depth > 0 and escaped:
            literal.append("}")
            escaped -= 1
            i += 1
        elif text[i] == "}" and depth > 0:
            break
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts), i


def _parse_ref(text: str, start: int, depth: int) -> tuple[_EnvRef, int]:
    """The reference starting at ``text[start:]`` (``${``); returns it and the index after it."""

    def malformed() -> _EnvSyntaxError:
        close = text.find("}", start)
        return _EnvSyntaxError(text[start : close + 1] if close != -1 else text[start:])

    if depth > MAX_ENV_NESTING:
        raise _EnvSyntaxError(f"references nested more than {MAX_ENV_NESTING} deep")
    name = _ENV_NAME.match(text, start + 2)
    if name is None:
        raise malformed()
    i = name.end()
    if text.startswith("}", i):
        return _EnvRef(name.group(0), None), i + 1
    if not text.startswith(":-", i):
        raise malformed()
    default, end = _parse_parts(text, i + 2, depth)
    if end >= len(text):  # no closing brace
        raise _EnvSyntaxError(text[start:])
    return _EnvRef(name.group(0), default), end + 1


@dataclass(frozen=True)
class Ref:
    """A reference from one part of the config to a named thing, checked once everything is read."""

    kind: str
    name: str
    path: str
    line: int | None


@dataclass
class Checker:
    """Collects problems, references and secrets while a config document is validated."""

    file: str
    environ: Mapping[str, str]
    show_lines: bool = True
    problems: list[ConfigProblem] = field(default_factory=list)
    references: list[Ref] = field(default_factory=list)
    #: values of secret fields (kept on the Config: the Notifier scrubs them from everything)
    secrets: set[str] = field(default_factory=set)
    #: values of variables that look secret by name: scrubbed from problems only, since a
    #: guess must not blank out ordinary words in every later report
    suspect: set[str] = field(default_factory=set)
    #: warnings: not problems, but worth saying (a secret written inline in the file)
    warnings: list[ConfigProblem] = field(default_factory=list)
    #: while true, an unset ``${VAR}`` is not a problem (sandbox mode, for keys the sandbox replaces)
    lenient_env: bool = False
    env_missing: bool = False
    #: a run that sends nothing: an unset ``${VAR}`` is a warning, and the key reads as
    #: :class:`UnsetEnv` (a string) or its default (see the module docstring)
    dry_run: bool = False
    #: while true (a dry run, reading an optional key), an unset ``${VAR}`` in a value that
    #: cannot be a string (a number, a choice) makes the key take its default
    may_default: bool = False
    #: what a sending run reports for each unset ``${VAR}`` a dry run let through
    unset: list[ConfigProblem] = field(default_factory=list)
    #: while true, the value being read is a secret (a key declared ``secret=True``)
    secret_field: bool = False
    _warned: set[int] = field(default_factory=set, repr=False)

    def line(self, node: yaml.Node | None) -> int | None:
        if node is None or not self.show_lines:
            return None
        return int(node.start_mark.line) + 1

    def problem(self, node: yaml.Node | None, path: str, message: str) -> Any:
        """Record a problem; returns :data:`INVALID` so readers can ``return ctx.problem(...)``."""
        self.problems.append(ConfigProblem(self.file, self.line(node), path, message))
        return INVALID

    def warn(self, node: yaml.Node | None, path: str, message: str) -> None:
        """Record a warning, once per node: an aliased or merged node is read once per use, but
        is fixed in one place."""
        if node is not None:
            if id(node) in self._warned:
                return
            self._warned.add(id(node))
        self.warnings.append(ConfigProblem(self.file, self.line(node), path, message))

    def scrubbed(self, problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
        """``problems`` with every collected secret replaced by ``***`` in their messages.

        Applied once every key is read: the secret field that makes a value secret may come after
        the key whose problem echoes it.
        """
        scrub = scrubber(self.secrets | self.suspect)
        return [ConfigProblem(p.file, p.line, scrub(p.path), scrub(p.message)) for p in problems]

    def refer(self, kind: str, name: str, node: yaml.Node | None, path: str) -> None:
        self.references.append(Ref(kind, name, path, self.line(node)))

    # -- scalars ----------------------------------------------------------------------------

    def text(
        self, node: yaml.Node, path: str, what: str = "a string", *, keep_unset: bool = False
    ) -> Any:
        """The text of a scalar node after ``${VAR}`` substitution, or INVALID.

        Unquoted numbers are accepted as text (their source spelling is kept); booleans, nulls,
        lists and mappings are not. ``keep_unset``: the caller takes an :class:`UnsetEnv` for a
        value whose variables a dry run let unset (a string can show it; a number cannot).
        """
        if not isinstance(node, yaml.ScalarNode):
            return self.problem(node, path, f"expected {what}, got {describe(node)}")
        if node.tag in (_BOOL_TAG, _NULL_TAG):
            return self.problem(node, path, f"expected {what}, got {describe(node)}")
        value = str(node.value)
        if node.tag == _STR_TAG and "$" in value:
            value = self._substitute(value, node, path, keep_unset)
        if (
            self.secret_field
            and isinstance(value, str)
            and value
            and not isinstance(value, UnsetEnv)
        ):
            self.secrets.add(value)
        return value

    def unset_value(
        self, node: yaml.Node, path: str, head: str, problem: str, names: Sequence[str]
    ) -> Any:
        """A dry run's answer to a value it need not have: the warning ``head: fine for this
        run...`` and the ``problem`` a sending run reports (kept in :attr:`unset`), once per
        line and key path (an aliased node is read once per use), and :class:`UnsetEnv`."""
        line = self.line(node)
        if not any(p.line == line and p.path == path for p in self.unset):
            self.unset.append(ConfigProblem(self.file, line, path, problem))
            them = "them" if names[1:] else "it"
            fine = (
                f"{head}: fine for this run, which sends nothing; set {them} before notify, "
                "submit, worker or serve"
            )
            self.warnings.append(ConfigProblem(self.file, line, path, fine))
        return UnsetEnv(names)

    def _substitute(self, value: str, node: yaml.Node, path: str, keep_unset: bool) -> Any:
        try:
            parts = parse_env_refs(value)
        except _EnvSyntaxError as err:
            return self.problem(
                node,
                path,
                f"malformed environment reference {str(err)!r}: write ${{NAME}} or "
                "${NAME:-default} (the default may hold references too: ${A:-${B}}), and $${ "
                "for a literal ${",
            )
        missing: list[str] = []
        result = self._expand(parts, missing)
        if missing:
            if self.lenient_env:
                self.env_missing = True
                return INVALID
            names = ", ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            them = "them" if missing[1:] else "it"
            hint = f", {SECRET_HINT}" if self.secret_field else ""
            head = (
                f"environment variable{plural} {names} not set (read here as "
                + ", ".join(f"${{{name}}}" for name in missing)
                + ")"
            )
            problem = f"{head}: set {them} in the environment{hint}"
            if self.dry_run and (keep_unset or self.may_default):
                unset = self.unset_value(node, path, head, problem, missing)
                if keep_unset:
                    return unset
                self.env_missing = True  # the Struct reading the key gives it its default
                return INVALID
            return self.problem(node, path, problem)
        return result

    def _expand(self, parts: tuple[str | _EnvRef, ...], missing: list[str]) -> str:
        out: list[str] = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = self.environ.get(part.name)
            if part.default is not None and not value:
                out.append(self._expand(part.default, missing))
                continue
            if value is None:
                if part.name not in missing:
                    missing.append(part.name)
                continue
            if value and self.secret_field:
                self.secrets.add(value)
            elif value and _SECRET_NAME.search(part.name):
                self.suspect.add(value)
            out.append(value)
        return "".join(out)


def describe(node: yaml.Node) -> str:
    """How a node looks to a person: ``a list``, ``a mapping``, ``the boolean true``..."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "nothing (null)"
    if node.tag == _BOOL_TAG:
        return f"the boolean {node.value!r}"
    if node.tag in (_INT_TAG, _FLOAT_TAG):
        return f"the number {node.value}"
    return f"the string {node.value!r}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else ``""``."""
    import difflib  # only a config or call with a mistake gets here: not paid at start-up

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def mapping_items(
    node: yaml.Node, path: str, ctx: Checker
) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """The ``(key, key node, value node)`` items of a mapping node, merge keys (``<<: *x``) applied,
    with duplicate and non-string keys reported. The caller has checked it is a mapping."""
    assert isinstance(node, yaml.MappingNode)
    own: list[tuple[str, yaml.Node, yaml.Node]] = []
    merged: list[tuple[str, yaml.Node, yaml.Node]] = []
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    # The first source that has a key wins, as in YAML's merge-key spec; keeping
                    # only that one keeps repeated merges (<<: [*a, *a]) from multiplying.
                    have = {item[0] for item in merged}
                    merged.extend(
                        item for item in mapping_items(source, path, ctx) if item[0] not in have
                    )
                else:
                    ctx.problem(source, path, "a merge key (<<) must refer to a mapping")
            continue
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in (_NULL_TAG,):
            ctx.problem(key_node, path, f"keys must be strings, got {describe(key_node)}")
            continue
        key = str(key_node.value)
        if key in seen:
            first = ctx.line(seen[key])
            where = f" (first defined on line {first})" if first is not None else ""
            ctx.problem(key_node, join(path, key), f"duplicate key {key!r}{where}")
            continue
        seen[key] = key_node
        own.append((key, key_node, value_node))
    # Explicit keys win over merged ones, as in YAML's merge-key spec.
    own.extend(item for item in merged if item[0] not in seen)
    return own


# -- phone numbers and secrets ---------------------------------------------------------------


def phone_hint(region: str = "IN") -> str:
    """What a valid phone number looks like, for an error message."""
    if region == "IN":
        return (
            "write it in E.164 (+91XXXXXXXXXX), or as an Indian number: 10 digits, or with a 0 "
            "or 91 prefix (09876543210, 919876543210)"
        )
    return f"write it in E.164 (+<country code><number>), or as a number in region {region}"


def parse_phone(value: str, region: str = "IN", *, strict: bool = True) -> str | None:
    """``value`` in E.164 if it is a valid number (``strict``) or a possible one, else ``None``."""
    from notifykit.text.phone import indian_mobile_e164

    fast = indian_mobile_e164(value)  # the usual number, without importing libphonenumber
    if fast is not None:
        return fast
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """A function that replaces every secret in a text by ``***`` (longest first)."""
    ordered = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
    if not ordered:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in ordered))
    return lambda text: pattern.sub("***", text)
