"""A small schema language for validating YAML config nodes, with file, line and key path.

The core describes its own sections with it, and plugins describe their channel and account settings
with it (``ChannelType.settings``, ``Provider.settings``), so every problem in a config file, in core
or plugin keys, is reported the same way: ``notifykit.yaml:12: channels.sms.senders.critical.from:
...``. Validation never stops at the first problem: every type records problems in a
:class:`Checker` and returns :data:`INVALID` for a value it could not accept.

Values are read from the YAML *nodes* (``yaml.compose``), not from loaded Python objects, which is what
gives line numbers and lets a string field keep the source text of an unquoted number (a 19-digit DLT
id stays exactly as written). Strings get ``${VAR}`` / ``${VAR:-default}`` substitution from the
environment; ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from notifykit.channels import SEVERITIES
from notifykit.errors import ConfigProblem

__all__ = [
    "INVALID",
    "Boolean",
    "BySeverity",
    "Checker",
    "Choice",
    "Field",
    "Integer",
    "ListOf",
    "MapOf",
    "PhoneNumber",
    "Reference",
    "String",
    "Struct",
    "Type",
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

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


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
    secrets: set[str] = field(default_factory=set)
    #: while true, an unset ``${VAR}`` is not a problem (sandbox mode, for keys the sandbox replaces)
    lenient_env: bool = False
    env_missing: bool = False

    def line(self, node: yaml.Node | None) -> int | None:
        if node is None or not self.show_lines:
            return None
        return int(node.start_mark.line) + 1

    def problem(self, node: yaml.Node | None, path: str, message: str) -> Any:
        """Record a problem; returns :data:`INVALID` so types can ``return ctx.problem(...)``."""
        self.problems.append(ConfigProblem(self.file, self.line(node), path, message))
        return INVALID

    def refer(self, kind: str, name: str, node: yaml.Node | None, path: str) -> None:
        self.references.append(Ref(kind, name, path, self.line(node)))

    # -- scalars ----------------------------------------------------------------------------

    def text(self, node: yaml.Node, path: str, what: str = "a string") -> Any:
        """The text of a scalar node after ``${VAR}`` substitution, or INVALID.

        Unquoted numbers are accepted as text (their source spelling is kept); booleans, nulls,
        lists and mappings are not.
        """
        if not isinstance(node, yaml.ScalarNode):
            return self.problem(node, path, f"expected {what}, got {describe(node)}")
        if node.tag in (_BOOL_TAG, _NULL_TAG):
            return self.problem(node, path, f"expected {what}, got {describe(node)}")
        value = str(node.value)
        if node.tag == _STR_TAG and "$" in value:
            return self._substitute(value, node, path)
        return value

    def _substitute(self, value: str, node: yaml.Node, path: str) -> Any:
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token == "$${":
                return "${"
            name = match.group(1)
            if name is None:
                bad.append(token)
                return token
            if name in self.environ:
                return self.environ[name]
            default = match.group(2)
            if default is not None:
                return default
            missing.append(name)
            return ""

        bad: list[str] = []
        result = _ENV_REF.sub(replace, value)
        if bad:
            return self.problem(
                node,
                path,
                f"malformed environment reference {bad[0]!r}: write ${{NAME}} or ${{NAME:-default}}"
                " (and $${ for a literal ${)",
            )
        if missing:
            if self.lenient_env:
                self.env_missing = True
                return INVALID
            names = ", ".join(missing)
            plural = "s" if len(missing) > 1 else ""
            return self.problem(
                node,
                path,
                f"environment variable{plural} {names} not set (read here as "
                + ", ".join(f"${{{name}}}" for name in missing)
                + "): set it in the environment",
            )
        return result


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
                    merged.extend(mapping_items(source, path, ctx))
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
        value = ctx.text(node, path)
        if value is INVALID:
            return INVALID
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
        value = ctx.text(node, path, "a phone number")
        if value is INVALID:
            return INVALID
        result = parse_phone(value, self.region, strict=self.normalize)
        if result is None:
            return ctx.problem(node, path, f"{value!r} is not a valid phone number")
        return result if self.normalize else value.strip()


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
        ok = True
        for index, item in enumerate(items):
            value = self.item.check(item, f"{path}[{index}]", ctx)
            if value is INVALID:
                ok = False
            elif self.unique and value in result:
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
            was_lenient = ctx.lenient_env
            ctx.lenient_env = was_lenient or key in lenient
            ctx.env_missing = False
            try:
                value = spec.type.check(value_node, join(path, key), ctx)
            finally:
                ctx.lenient_env = was_lenient
            if value is INVALID:
                if ctx.env_missing and key in lenient:
                    result[key] = spec.default
                    continue
                ok = False
                continue
            if value is UNSET:
                if spec.required and key not in lenient:
                    ctx.problem(value_node, join(path, key), "is empty after ${...} substitution")
                    ok = False
                else:
                    result[key] = spec.default
                continue
            if spec.secret and isinstance(value, str) and value:
                ctx.secrets.add(value)
            result[key] = value
        for key, spec in self.fields.items():
            if key in present:
                continue
            if spec.required and key not in lenient:
                ctx.problem(node, join(path, key), f"missing required key {key!r}")
                ok = False
            else:
                result[key] = spec.default
        return result if ok else INVALID


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
