"""A small schema language for validating YAML config nodes, with file, line and key path.

The core describes its own sections with it, and plugins describe their channel and account settings
with it (``ChannelType.settings``, ``Provider.settings``), so every problem in a config file, in core
or plugin keys, is reported the same way: ``notifykit.yaml:12: channels.sms.senders.critical.from:
...``. Validation never stops at the first problem: every type records problems in a
:class:`Checker` and returns :data:`INVALID` for a value it could not accept.

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

Secrets: a value substituted into a :class:`Field` marked ``secret`` (and the value of every
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
from notifykit.model import SEVERITIES

__all__ = [
    "INVALID",
    "Boolean",
    "BySeverity",
    "Checker",
    "Choice",
    "Duration",
    "Field",
    "Integer",
    "ListOf",
    "MapOf",
    "PhoneNumber",
    "Reference",
    "String",
    "Struct",
    "Type",
    "UnsetEnv",
    "parse_env_refs",
    "phone_hint",
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
    #: while true, the value being read is a secret (a :class:`Field` with ``secret=True``)
    secret_field: bool = False
    _warned: set[int] = field(default_factory=set, repr=False)

    def line(self, node: yaml.Node | None) -> int | None:
        if node is None or not self.show_lines:
            return None
        return int(node.start_mark.line) + 1

    def problem(self, node: yaml.Node | None, path: str, message: str) -> Any:
        """Record a problem; returns :data:`INVALID` so types can ``return ctx.problem(...)``."""
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


# -- types -------------------------------------------------------------------------------------


class Type:
    """Base class of schema types: ``check(node, path, ctx)`` returns the value or INVALID."""

    description = "a value"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class String(Type):
    """A string. ``pattern`` (a full-match regex) with ``pattern_help`` saying what is expected."""

    pattern: str | None = None
    pattern_help: str | None = None
    allow_empty: bool = False

    description = "a string"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, keep_unset=True)
        if value is INVALID or isinstance(value, UnsetEnv):
            return value
        if not value and isinstance(node, yaml.ScalarNode) and "${" in str(node.value):
            return UNSET
        if not value and not self.allow_empty:
            return ctx.problem(node, path, "must not be empty")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            expected = self.pattern_help or f"text matching {self.pattern}"
            return ctx.problem(node, path, f"{value!r} is not {expected}")
        return value


@dataclass(frozen=True)
class Integer(Type):
    """An integer, optionally bounded (inclusive)."""

    minimum: int | None = None
    maximum: int | None = None

    description = "an integer"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
            value = _CONSTRUCTOR.construct_yaml_int(node)
        elif isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG and "${" in node.value:
            text = ctx.text(node, path)
            if text is INVALID:
                return INVALID
            try:
                value = int(text)
            except ValueError:
                return ctx.problem(node, path, f"expected an integer, got {text!r}")
        else:
            return ctx.problem(node, path, f"expected an integer, got {describe(node)}")
        if self.minimum is not None and value < self.minimum:
            return ctx.problem(node, path, f"must be at least {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            return ctx.problem(node, path, f"must be at most {self.maximum}, got {value}")
        return value


@dataclass(frozen=True)
class Duration(Type):
    """A duration: ``30s``, ``5m``, ``4h``, ``1h30m``, ``250ms``, or a number of seconds."""

    minimum: float = 0.0
    maximum: float | None = None

    description = "a duration (30s, 5m, 4h)"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        from notifykit.config.settings import parse_duration

        if not isinstance(node, yaml.ScalarNode):
            return ctx.problem(node, path, f"expected a duration such as 30s, got {describe(node)}")
        text = ctx.text(node, path)
        if text is INVALID:
            return INVALID
        seconds = parse_duration(str(text))
        if seconds is None:
            return ctx.problem(
                node, path, f"{text!r} is not a duration: write it like 30s, 5m, 4h or 1h30m"
            )
        if seconds < self.minimum:
            return ctx.problem(node, path, f"must be at least {self.minimum:g}s, got {text}")
        if self.maximum is not None and seconds > self.maximum:
            return ctx.problem(node, path, f"must be at most {self.maximum:g}s, got {text}")
        return seconds


@dataclass(frozen=True)
class Boolean(Type):
    """``true`` or ``false``."""

    description = "true or false"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        return ctx.problem(node, path, f"expected true or false, got {describe(node)}")


@dataclass(frozen=True)
class Choice(Type):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    @property
    def description(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.values)

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, "one of " + ", ".join(self.values))
        if value is INVALID:
            return INVALID
        if value not in self.values:
            hint = did_you_mean(value, self.values)
            allowed = ", ".join(self.values)
            return ctx.problem(node, path, f"{value!r} is not one of {allowed}{hint}")
        return value


@dataclass(frozen=True)
class PhoneNumber(Type):
    """A phone number, validated with Google's libphonenumber.

    ``normalize`` (the default) returns it in E.164 (``+919876543210``); numbers without a country
    code are read in ``region``. With ``normalize=False`` the number is kept as written (ExoPhones
    such as ``08088919888`` are used exactly as the dashboard shows them) and only checked to be a
    possible number.
    """

    region: str = "IN"
    normalize: bool = True

    description = "a phone number"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, "a phone number", keep_unset=True)
        if value is INVALID or isinstance(value, UnsetEnv):
            return value
        result = parse_phone(value, self.region, strict=self.normalize)
        if result is None:
            return ctx.problem(
                node, path, f"{value!r} is not a valid phone number: {phone_hint(self.region)}"
            )
        return result if self.normalize else value.strip()


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
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    ok = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not ok:
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@dataclass(frozen=True)
class Reference(Type):
    """The name of something defined elsewhere in the config (``account``, ``channel``,
    ``recipient``...); checked after the whole file is read, with a "did you mean" hint."""

    kind: str

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"the name of a configured {self.kind}"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, f"the name of a {self.kind}")
        if value is INVALID:
            return INVALID
        ctx.refer(self.kind, value, node, path)
        return value


@dataclass(frozen=True)
class ListOf(Type):
    """A list of items of one type. ``allow_scalar`` also accepts one item on its own."""

    item: Type
    min_items: int = 0
    allow_scalar: bool = False
    unique: bool = True

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.description}s"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and self.allow_scalar and node.tag != _NULL_TAG:
            items = [node]
        elif isinstance(node, yaml.SequenceNode):
            items = list(node.value)
        else:
            return ctx.problem(node, path, f"expected a list, got {describe(node)}")
        if len(items) < self.min_items:
            return ctx.problem(node, path, f"needs at least {self.min_items} item(s)")
        result: list[Any] = []
        seen: set[Any] = set()  # for hashable items: a long list must not cost n² comparisons
        ok = True
        for index, item in enumerate(items):
            value = self.item.check(item, f"{path}[{index}]", ctx)
            if value is INVALID:
                ok = False
                continue
            try:
                twice = value in seen
                seen.add(value)
            except TypeError:  # unhashable (a mapping item)
                twice = value in result
            if self.unique and twice:
                ctx.problem(item, f"{path}[{index}]", f"{value!r} is listed twice")
                ok = False
            else:
                result.append(value)
        return result if ok else INVALID


@dataclass(frozen=True)
class MapOf(Type):
    """A mapping from names (``key``, a :class:`String` by default) to values of one type."""

    value: Type
    key: Type = field(default_factory=String)

    description = "a mapping"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return {}
        if not isinstance(node, yaml.MappingNode):
            return ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
        result: dict[str, Any] = {}
        ok = True
        for key, key_node, value_node in mapping_items(node, path, ctx):
            sub = join(path, key)
            if self.key.check(key_node, sub, ctx) is INVALID:
                ok = False
                continue
            value = self.value.check(value_node, sub, ctx)
            if value is INVALID:
                ok = False
            else:
                result[key] = value
        return result if ok else INVALID


_MISSING: Any = object()


@dataclass(frozen=True)
class Field:
    """One key of a :class:`Struct`: its type, whether it is required, its default.

    ``secret`` marks values that must never appear in output (tokens): they are collected so
    error messages can be scrubbed of them. ``help`` documents the key.
    """

    type: Type
    required: bool = False
    default: Any = None
    secret: bool = False
    help: str = ""


@dataclass(frozen=True)
class Struct(Type):
    """A mapping with known keys. Unknown keys are problems, with a "did you mean" hint.

    Absent optional keys get their field's default, so the validated dict always has every key.
    ``lenient`` keys (sandbox mode) may be missing, or refer to unset environment variables.
    """

    fields: Mapping[str, Field]
    name: str = "mapping"

    description = "a mapping"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        return self.check_with(node, path, ctx)

    def check_with(
        self,
        node: yaml.Node,
        path: str,
        ctx: Checker,
        *,
        lenient: frozenset[str] = frozenset(),
        ignore: frozenset[str] = frozenset(),
    ) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        if not isinstance(node, yaml.MappingNode):
            return ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
        result: dict[str, Any] = {}
        ok = True
        present: set[str] = set()
        for key, key_node, value_node in mapping_items(node, path, ctx):
            present.add(key)
            if key in ignore:
                continue
            spec = self.fields.get(key)
            if spec is None:
                hint = did_you_mean(key, self.fields)
                allowed = ", ".join(sorted(self.fields))
                ctx.problem(
                    key_node, join(path, key), f"unknown key {key!r}{hint}; allowed: {allowed}"
                )
                ok = False
                continue
            # A sandbox replaces these keys: their variables need not be set, silently. A dry run
            # needs no variable either (Checker.dry_run), but says which ones are unset.
            may_miss = key in lenient
            was = ctx.lenient_env, ctx.secret_field, ctx.may_default
            ctx.lenient_env = was[0] or may_miss
            ctx.secret_field = was[1] or spec.secret
            ctx.may_default = ctx.dry_run and not spec.required
            ctx.env_missing = False
            try:
                value = spec.type.check(value_node, join(path, key), ctx)
            finally:
                ctx.lenient_env, ctx.secret_field, ctx.may_default = was
            if spec.secret:
                _warn_inline_secret(value_node, join(path, key), ctx)
            if value is INVALID:
                if ctx.env_missing and (may_miss or (ctx.dry_run and not spec.required)):
                    result[key] = spec.default
                    continue
                ok = False
                continue
            if value is UNSET:
                if spec.required and not may_miss:
                    hint = f": set it, {SECRET_HINT}" if spec.secret else ""
                    problem = f"is empty after ${{...}} substitution{hint}"
                    if ctx.dry_run:
                        names = env_names(str(getattr(value_node, "value", "")))
                        head = f"is empty after ${{...}} substitution ({', '.join(names)})"
                        result[key] = ctx.unset_value(
                            value_node, join(path, key), head, problem, names
                        )
                        continue
                    ctx.problem(value_node, join(path, key), problem)
                    ok = False
                else:
                    result[key] = spec.default
                continue
            if spec.secret and isinstance(value, str) and value and not isinstance(value, UnsetEnv):
                ctx.secrets.add(value)
            result[key] = value
        for key, spec in self.fields.items():
            if key in present:
                continue
            if spec.required and key not in lenient:
                hint = (
                    f" (a secret: set it as {key}: ${{ENV_VAR}}, {SECRET_HINT})"
                    if spec.secret
                    else ""
                )
                problem = f"missing required key {key!r}{hint}"
                if ctx.dry_run and spec.secret:
                    # A dry run needs no secret, written or not (as before: a key left out).
                    head = f"missing required key {key!r} (a secret: set it as {key}: ${{ENV_VAR}})"
                    result[key] = ctx.unset_value(node, join(path, key), head, problem, ())
                    continue
                ctx.problem(node, join(path, key), problem)
                ok = False
            else:
                result[key] = spec.default
        return result if ok else INVALID


def _warn_inline_secret(node: yaml.Node, path: str, ctx: Checker) -> None:
    """A secret written in the file itself (not as ``${VAR}``) ends up in version control."""
    if not ctx.show_lines or not isinstance(node, yaml.ScalarNode):
        return  # a mapping config comes from code, which may have read the environment itself
    if node.tag == _NULL_TAG or "${" in str(node.value) or not str(node.value).strip():
        return
    ctx.warn(
        node,
        path,
        f"a secret is written in the file: {INLINE_SECRET_FIX} "
        f"({path.rsplit('.', 1)[-1]}: ${{MY_SECRET}}, set in the environment)",
    )


@dataclass(frozen=True)
class BySeverity(Type):
    """A value chosen by severity: either one value for every severity, or a mapping with a
    ``default`` and any of the severities (``info``, ``warning``, ``error``, ``critical``).

    Validated into ``{"default": v, ...}``; pick with :func:`notifykit.channels.by_severity`.
    ``scalar`` controls whether a single value on its own is accepted (it is not when the item
    type is itself a mapping).
    """

    item: Type
    scalar: bool = True

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.item.description} or a mapping of severities to it"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if self.scalar and not isinstance(node, yaml.MappingNode):
            value = self.item.check(node, path, ctx)
            return INVALID if value is INVALID else {"default": value}
        keys = Choice(("default", *SEVERITIES))
        table = MapOf(self.item, key=keys).check(node, path, ctx)
        if table is INVALID:
            return INVALID
        if "default" not in table:
            return ctx.problem(
                node, path, "missing 'default' (used for severities without their own entry)"
            )
        return table


def scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """A function that replaces every secret in a text by ``***`` (longest first)."""
    ordered = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
    if not ordered:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(s) for s in ordered))
    return lambda text: pattern.sub("***", text)


# -- named sections ----------------------------------------------------------------------------

#: the names of accounts, channels, recipients, groups, receivers, escalations, time intervals
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"
NAME = String(NAME_PATTERN, "a name (letters, digits, _ . -, starting with a letter or _)")


def named_items(
    node: yaml.Node | None, section: str, ctx: Checker
) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """The ``(name, key node, value node)`` entries of a ``name: {...}`` section, each name
    checked (a bad one is reported and left out); an absent or empty section has none."""
    if node is None or (
        isinstance(node, yaml.ScalarNode)
        and (node.tag.endswith(":null") or node.value in ("", "~", "null"))
    ):
        return []
    if not isinstance(node, yaml.MappingNode):
        ctx.problem(node, section, f"expected a mapping of names, got {describe(node)}")
        return []
    return [
        (name, key_node, value_node)
        for name, key_node, value_node in mapping_items(node, section, ctx)
        if NAME.check(key_node, join(section, name), ctx) is not INVALID
    ]
