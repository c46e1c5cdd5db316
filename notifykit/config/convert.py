"""The one converter from YAML to settings: :func:`convert` reads a node (with its line) into
the type a section declares (:mod:`notifykit.config.settings`), recording every problem in the
:class:`~notifykit.config.schema.Checker` instead of stopping at the first.

What a node becomes is decided by the annotation (``str``, ``int``, ``Duration``, a
:class:`~notifykit.config.settings.Settings` class, ``tuple[X, ...]``...) and the field's
:class:`~notifykit.config.settings.Spec`. Each class's fields are resolved once, at its first
conversion, and cached. Everything the YAML layer does is kept: ``${VAR}`` substitution (only in
strings), secrets collected and scrubbed, unknown keys with a "did you mean", and the dry run's
``<unset:${VAR}>`` (see :mod:`notifykit.config.schema`).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from notifykit.config.schema import (
    _BOOL_TAG,
    _CONSTRUCTOR,
    _FLOAT_TAG,
    _INT_TAG,
    _NULL_TAG,
    _STR_TAG,
    INLINE_SECRET_FIX,
    INVALID,
    SECRET_HINT,
    UNSET,
    Checker,
    UnsetEnv,
    describe,
    did_you_mean,
    env_names,
    join,
    mapping_items,
    parse_phone,
    phone_hint,
)
from notifykit.config.settings import (
    NAME_PATTERN,
    BySeverity,
    ConfigWarning,
    Duration,
    Phone,
    PhoneAsWritten,
    Settings,
    Spec,
    Target,
    keys_of,
    parse_duration,
    spec_of,
)
from notifykit.errors import PluginError
from notifykit.model import SEVERITIES

__all__ = [
    "Kind",
    "check_name",
    "convert",
    "convert_parts",
    "field_kinds",
    "kind_of",
    "looks_like_phone",
    "named_items",
]

_NO_SPEC = Spec()
_OMIT: Any = object()  # a key that takes its declared default: not passed to the class


class Kind:
    """How one value is read from its node (the converter's own types, built from
    annotations)."""

    #: what a value must be, for "expected ..., got ..." messages
    what = "a value"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        """The value of ``node``, :data:`INVALID` (its problem recorded) or :data:`UNSET` (empty
        after ``${...}`` substitution: the key counts as not set)."""
        raise NotImplementedError

    def doc(self) -> str:
        """The type, for the settings reference."""
        return self.what


class _Text(Kind):
    what = "a string"

    def __init__(self, pattern: str | None = None, expected: str | None = None) -> None:
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.expected = expected or (f"text matching {pattern}" if pattern else None)

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, keep_unset=True)
        if value is INVALID or isinstance(value, UnsetEnv):
            return value
        if not value and isinstance(node, yaml.ScalarNode) and "${" in str(node.value):
            return UNSET
        if not value:
            return ctx.problem(node, path, "must not be empty")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return ctx.problem(node, path, f"{value!r} is not {self.expected}")
        return value

    def doc(self) -> str:
        return f"string: {self.expected}" if self.expected else "string"


class _Ref(Kind):
    """The name of something defined elsewhere in the config, checked once everything is read."""

    def __init__(self, kind: str, pattern: str | None, expected: str | None) -> None:
        self.kind = kind
        self.what = f"the name of a {kind}"
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.expected = expected or f"text matching {pattern}"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, self.what)
        if value is INVALID:
            return INVALID
        if self.pattern is not None and not self.pattern.fullmatch(value):
            return ctx.problem(node, path, f"{value!r} is not {self.expected}")
        ctx.refer(self.kind, value, node, path)
        return value

    def doc(self) -> str:
        return f"the name of a configured {self.kind}"


class _Int(Kind):
    what = "an integer"

    def __init__(self, minimum: float | None, maximum: float | None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
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
        return _bounded(value, self.minimum, self.maximum, node, path, ctx, str)

    def doc(self) -> str:
        return "integer" + _range(self.minimum, self.maximum, _number)


class _Float(Kind):
    what = "a number"

    def __init__(self, minimum: float | None, maximum: float | None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG, _STR_TAG):
            text = ctx.text(node, path) if node.tag == _STR_TAG else str(node.value)
            if text is INVALID:
                return INVALID
            try:
                value = float(text)
            except ValueError:
                return ctx.problem(node, path, f"expected a number, got {text!r}")
        else:
            return ctx.problem(node, path, f"expected a number, got {describe(node)}")
        return _bounded(value, self.minimum, self.maximum, node, path, ctx, _number)

    def doc(self) -> str:
        return "number" + _range(self.minimum, self.maximum, _number)


def _number(value: float) -> str:
    return f"{value:g}"


def _bounded(
    value: Any,
    minimum: float | None,
    maximum: float | None,
    node: yaml.Node,
    path: str,
    ctx: Checker,
    show: Callable[[Any], str],
) -> Any:
    if minimum is not None and value < minimum:
        return ctx.problem(node, path, f"must be at least {show(minimum)}, got {show(value)}")
    if maximum is not None and value > maximum:
        return ctx.problem(node, path, f"must be at most {show(maximum)}, got {show(value)}")
    return value


def _range(minimum: float | None, maximum: float | None, show: Callable[[float], str]) -> str:
    if minimum is not None and maximum is not None:
        return f", {show(minimum)} to {show(maximum)}"
    if minimum is not None:
        return f", at least {show(minimum)}"
    if maximum is not None:
        return f", at most {show(maximum)}"
    return ""


class _Bool(Kind):
    what = "true or false"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            return bool(_CONSTRUCTOR.construct_yaml_bool(node))
        return ctx.problem(node, path, f"expected true or false, got {describe(node)}")


class _Choice(Kind):
    def __init__(self, values: tuple[str, ...]) -> None:
        self.values = values
        self.what = "one of " + ", ".join(values)

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, self.what)
        if value is INVALID:
            return INVALID
        if value not in self.values:
            hint = did_you_mean(value, self.values)
            return ctx.problem(
                node, path, f"{value!r} is not one of {', '.join(self.values)}{hint}"
            )
        return value


class _Duration(Kind):
    what = "a duration (30s, 5m, 4h)"

    def __init__(self, minimum: float | None, maximum: float | None) -> None:
        self.minimum = minimum or 0.0
        self.maximum = maximum

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
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

    def doc(self) -> str:
        low = self.minimum or None
        return "duration (30s, 5m, 4h)" + _range(low, self.maximum, _seconds)


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


class _Phone(Kind):
    what = "a phone number"

    def __init__(self, normalize: bool) -> None:
        self.normalize = normalize

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, self.what, keep_unset=True)
        if value is INVALID or isinstance(value, UnsetEnv):
            return value
        result = parse_phone(value, "IN", strict=self.normalize)
        if result is None:
            return ctx.problem(
                node, path, f"{value!r} is not a valid phone number: {phone_hint('IN')}"
            )
        return result if self.normalize else value.strip()

    def doc(self) -> str:
        return "phone number (E.164)" if self.normalize else "phone number, kept as written"


def looks_like_phone(text: str) -> bool:
    """Names start with a letter or ``_``; anything starting with ``+`` or a digit is a number."""
    return bool(text) and (text[0] == "+" or text[0].isdigit())


class _Target(Kind):
    what = "a recipient, group, schedule:NAME or phone number"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        text = ctx.text(node, path, self.what)
        if text is INVALID:
            return INVALID
        if looks_like_phone(text):
            return _PHONE.read(node, path, ctx)
        if text.startswith("schedule:"):
            # whoever an on-call schedule has on call when the message goes out
            schedule = text[len("schedule:") :]
            if not _NAME_RE.fullmatch(schedule):
                return ctx.problem(
                    node, path, f"{text!r}: write schedule:NAME, NAME a schedule of schedules:"
                )
            ctx.refer("schedule", schedule, node, path)
            return text
        if not _NAME_RE.fullmatch(text):
            return ctx.problem(node, path, f"{text!r} is neither a name nor a phone number")
        ctx.refer("recipient or group", text, node, path)
        return text

    def doc(self) -> str:
        return "recipient, group, schedule:NAME or phone number"


class _Parsed(Kind):
    """A string read by a function of its own (``setting(parse=...)``); its ``ValueError`` is
    the problem."""

    def __init__(self, parse: Callable[[str], Any], expected: str | None) -> None:
        self.parse = parse
        self.what = expected or "a string"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        text = ctx.text(node, path, self.what)
        if text is INVALID:
            return INVALID
        try:
            return self.parse(str(text))
        except ValueError as err:
            return ctx.problem(node, path, str(err))

    def doc(self) -> str:
        return self.what


class _List(Kind):
    def __init__(
        self, item: Kind, min_items: int, one_or_many: bool, unique: bool, as_tuple: bool
    ) -> None:
        self.item = item
        self.min_items = min_items
        self.one_or_many = one_or_many
        self.unique = unique
        self.as_tuple = as_tuple
        self.what = "a list"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and self.one_or_many and node.tag != _NULL_TAG:
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
            value = _item(self.item, item, f"{path}[{index}]", ctx)
            if value is INVALID:
                ok = False
                continue
            if self.unique:
                try:
                    twice = value in seen
                    seen.add(value)
                except TypeError:  # unhashable (a mapping item)
                    twice = value in result
                if twice:
                    ctx.problem(item, f"{path}[{index}]", f"{value!r} is listed twice")
                    ok = False
                    continue
            result.append(value)
        if not ok:
            return INVALID
        return tuple(result) if self.as_tuple else result

    def doc(self) -> str:
        head = "one or a list" if self.one_or_many else "list"
        least = f" of at least {self.min_items}" if self.min_items > 1 else ""
        return f"{head}{least}, each: {self.item.doc()}"


def _item(kind: Kind, node: yaml.Node, path: str, ctx: Checker) -> Any:
    """An item of a list, mapping or severity table: one empty after ``${...}`` substitution is a
    problem (there is no default to fall back on)."""
    value = kind.read(node, path, ctx)
    if value is UNSET:
        return ctx.problem(node, path, "is empty after ${...} substitution")
    return value


class _Optional(Kind):
    """``X | None``: YAML's null (``key: null``, ``key: ~``, ``key:``) is None, anything else is
    read as an ``X``."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.what = inner.what

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return None
        return self.inner.read(node, path, ctx)

    def doc(self) -> str:
        return self.inner.doc()


class _Map(Kind):
    what = "a mapping"

    def __init__(self, value: Kind) -> None:
        self.value = value

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return {}
        if not isinstance(node, yaml.MappingNode):
            return ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
        result: dict[str, Any] = {}
        ok = True
        for key, key_node, value_node in mapping_items(node, path, ctx):
            sub = join(path, key)
            # A mapping's keys are names, never secrets, even when its values are (a secret
            # mapping of headers: "Authorization" must not be blanked out of every message).
            was, ctx.secret_field = ctx.secret_field, False
            try:
                name = _TEXT.read(key_node, sub, ctx)
            finally:
                ctx.secret_field = was
            if name is INVALID:
                ok = False
                continue
            value = _item(self.value, value_node, sub, ctx)
            if value is INVALID:
                ok = False
            else:
                result[key] = value
        return result if ok else INVALID

    def doc(self) -> str:
        return f"mapping of names, each: {self.value.doc()}"


class _Severity(Kind):
    """One value for every severity, or ``{default: ..., critical: ...}`` (only the table form
    for a mapping item)."""

    def __init__(self, item: Kind) -> None:
        self.item = item
        self.scalar = not isinstance(item, _Struct)
        self.keys = _Choice(("default", *SEVERITIES))
        self.what = f"{item.what} or a mapping of severities to it"

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if self.scalar and not isinstance(node, yaml.MappingNode):
            value = self.item.read(node, path, ctx)
            if value is INVALID or value is UNSET:
                return value
            return BySeverity({"default": value})
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        if not isinstance(node, yaml.MappingNode):
            return ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
        table: BySeverity[Any] = BySeverity()
        ok = True
        for key, key_node, value_node in mapping_items(node, path, ctx):
            sub = join(path, key)
            if self.keys.read(key_node, sub, ctx) is INVALID:
                ok = False
                continue
            value = _item(self.item, value_node, sub, ctx)
            if value is INVALID:
                ok = False
            else:
                table[key] = value
        if not ok:
            return INVALID
        if "default" not in table:
            return ctx.problem(
                node, path, "missing 'default' (used for severities without their own entry)"
            )
        return table

    def doc(self) -> str:
        if not self.scalar:
            return f"a table by severity with a default, each: {self.item.doc()}"
        return f"{self.item.doc()}, or a table by severity with a default"


class _Checked(Kind):
    """A kind with the field's own validator (``setting(check=...)``) run on what it read."""

    def __init__(self, inner: Kind, check: Callable[[Any], Iterable[str]]) -> None:
        self.inner = inner
        self.check = check
        self.what = inner.what

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = self.inner.read(node, path, ctx)
        if value is INVALID or value is UNSET or isinstance(value, UnsetEnv):
            return value
        problems = []
        for message in self.check(value):
            if isinstance(message, ConfigWarning):  # the value stands, with a warning
                ctx.warn(node, path, message)
            else:
                problems.append(message)
                ctx.problem(node, path, message)
        return INVALID if problems else value

    def doc(self) -> str:
        return self.inner.doc()


class _Struct(Kind):
    what = "a mapping"

    def __init__(self, cls: type[Settings]) -> None:
        self.cls = cls

    def read(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        result = convert_parts(node, (self.cls,), path, ctx)
        return result if result is INVALID else result[0]

    def doc(self) -> str:
        return f"mapping ({self.cls.__qualname__})"


_TEXT = _Text()
_PHONE = _Phone(normalize=True)
_NAME_RE = re.compile(NAME_PATTERN)
_NAME = _Text(NAME_PATTERN, "a name (letters, digits, _ . -, starting with a letter or _)")

# -- from annotations to kinds ------------------------------------------------------------------

_SEQUENCES = (tuple, list, Sequence)
_MAPPINGS = (dict, Mapping)


def kind_of(target: Any, spec: Spec = _NO_SPEC, *, where: str = "") -> Kind:
    """The :class:`Kind` reading ``target`` (an annotation) with ``spec``'s constraints.

    :raises PluginError: the annotation is not one the converter reads (``where`` names it).
    """
    kind = _kind(target, spec, where or repr(target))
    return _Checked(kind, spec.check) if spec.check is not None else kind


def _kind(tp: Any, spec: Spec, where: str) -> Kind:
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Union or origin is types.UnionType:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _Optional(_kind(rest[0], spec, where))
        raise PluginError(f"{where}: a union {tp!r} is not a settings type; use X | None")
    if origin in _SEQUENCES:
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            raise PluginError(f"{where}: write a list setting as tuple[X, ...], not {tp!r}")
        item = _item_kind(args[0], spec, where)
        as_tuple = origin is not list
        return _List(item, spec.min_items, spec.one_or_many, spec.unique, as_tuple)
    if origin in _MAPPINGS:
        if args and args[0] is not str:
            raise PluginError(f"{where}: a mapping setting has string keys, not {args[0]!r}")
        return _Map(_item_kind(args[1] if args else str, spec, where))
    if origin is BySeverity:
        return _Severity(_item_kind(args[0], spec, where))
    if spec.parse is not None:
        return _Parsed(spec.parse, spec.expected)
    if spec.ref is not None:
        return _Ref(spec.ref, spec.pattern, spec.expected)
    if origin is Literal:
        return _Choice(tuple(str(a) for a in args))
    if tp is Duration:
        return _Duration(spec.min, spec.max)
    if tp is Phone or tp is PhoneAsWritten:
        return _Phone(normalize=tp is Phone)
    if tp is Target:
        return _Target()
    if tp is bool:
        return _Bool()
    if tp is int:
        return _Int(spec.min, spec.max)
    if tp is float:
        return _Float(spec.min, spec.max)
    if tp is str:
        return _Text(spec.pattern, spec.expected)
    if isinstance(tp, type) and issubclass(tp, Settings):
        return _Struct(tp)
    raise PluginError(
        f"{where}: {tp!r} is not a settings type (str, int, float, bool, Literal[...], "
        "Duration, Phone, PhoneAsWritten, Target, a Settings class, tuple[X, ...], "
        "Mapping[str, X], BySeverity[X], X | None)"
    )


def _item_kind(tp: Any, spec: Spec, where: str) -> Kind:
    """The kind of a container's items: read by ``spec.parse`` when there is one (whatever it
    returns: a tuple of matchers is one item), else by their annotation."""
    if spec.parse is not None:
        return _Parsed(spec.parse, spec.expected)
    return _kind(tp, spec, where)


class _Key:
    """One key of a settings class, resolved."""

    __slots__ = ("attr", "env_only", "has_default", "key", "kind", "required", "secret")

    def __init__(
        self,
        key: str,
        attr: str,
        kind: Kind,
        required: bool,
        has_default: bool,
        secret: bool,
        env_only: bool = False,
    ) -> None:
        self.key = key
        self.attr = attr
        self.kind = kind
        self.required = required
        self.has_default = has_default
        self.secret = secret
        self.env_only = env_only


_PLANS: dict[type, dict[str, _Key]] = {}


def _plan(cls: type[Settings]) -> dict[str, _Key]:
    """The keys of ``cls`` with their kinds: resolved at its first conversion, then cached."""
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    try:
        hints = typing.get_type_hints(cls)
    except Exception as err:  # a name only imported under TYPE_CHECKING, a typo...
        raise PluginError(
            f"settings {cls.__module__}.{cls.__qualname__}: cannot resolve its annotations "
            f"({type(err).__name__}: {err}); import every type they name at module level"
        ) from err
    keys = keys_of(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    plan = {}
    for key, attr in keys.items():
        field = fields[attr]
        spec = spec_of(field)
        where = f"settings {cls.__qualname__}.{attr}"
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        kind = kind_of(hints[attr], spec, where=where)
        plan[key] = _Key(
            key,
            attr,
            kind,
            spec.required or not has_default,
            has_default,
            spec.secret,
            spec.env_only,
        )
    _PLANS[cls] = plan
    return plan


def field_kinds(cls: type[Settings]) -> list[tuple[str, dataclasses.Field[Any], Kind, bool]]:
    """``(key, field, kind, required)`` for every key of ``cls``, in order (for the settings
    reference)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return [(k.key, fields[k.attr], k.kind, k.required) for k in _plan(cls).values()]


# -- conversion ---------------------------------------------------------------------------------


def convert(
    node: yaml.Node,
    target: Any,
    path: str,
    ctx: Checker,
    *,
    lenient: frozenset[str] = frozenset(),
    ignore: frozenset[str] = frozenset(),
    base: Settings | None = None,
    **constraints: Any,
) -> Any:
    """Read ``node`` as ``target`` (a :class:`~notifykit.config.settings.Settings` class or any
    annotation the settings understand), recording problems in ``ctx`` under ``path``.

    :param lenient: keys of a settings class that may be missing or refer to unset variables
        (those a sandbox replaces).
    :param ignore: keys the caller reads itself (``type``, ``provider``...).
    :param base: the values of keys the mapping leaves out (a channel's ``retry:`` over the
        top-level one), instead of the declared defaults.
    :param constraints: what :func:`~notifykit.config.settings.setting` takes (``min``,
        ``one_or_many``...), for a ``target`` that is not a class.
    :returns: the value, or :data:`~notifykit.config.schema.INVALID` when it has problems
        (:data:`~notifykit.config.schema.UNSET` for a string empty after substitution).
    """
    if isinstance(target, type) and issubclass(target, Settings):
        result = convert_parts(
            node, (target,), path, ctx, lenient=lenient, ignore=ignore, base=base
        )
        return result if result is INVALID else result[0]
    spec = Spec(**constraints) if constraints else _NO_SPEC
    return kind_of(target, spec).read(node, path, ctx)


def convert_parts(
    node: yaml.Node,
    classes: Sequence[type[Settings]],
    path: str,
    ctx: Checker,
    *,
    lenient: frozenset[str] = frozenset(),
    ignore: frozenset[str] = frozenset(),
    base: Settings | None = None,
) -> Any:
    """Read one mapping whose keys several classes share (each key belongs to one): the list of
    instances, one per class, or :data:`~notifykit.config.schema.INVALID`. Unknown keys are
    problems naming every class's keys."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
    if not isinstance(node, yaml.MappingNode):
        return ctx.problem(node, path, f"expected a mapping, got {describe(node)}")
    owners: dict[str, tuple[int, _Key]] = {}
    refused: dict[str, str] = {}
    for index, cls in enumerate(classes):
        refused.update(cls.refused_keys)
        for key, spec in _plan(cls).items():
            owners[key] = (index, spec)
    values: list[dict[str, Any]] = [{} for _ in classes]
    ok = True
    present: set[str] = set()
    for key, key_node, value_node in mapping_items(node, path, ctx):
        present.add(key)
        if key in ignore:
            continue
        if key in refused:
            ctx.problem(key_node, join(path, key), refused[key])
            ok = False
            continue
        owner = owners.get(key)
        if owner is None:
            hint = did_you_mean(key, owners)
            allowed = ", ".join(sorted(owners))
            ctx.problem(key_node, join(path, key), f"unknown key {key!r}{hint}; allowed: {allowed}")
            ok = False
            continue
        index, spec = owner
        value = _read_key(spec, key_node, value_node, path, ctx, may_miss=key in lenient)
        if value is INVALID:
            ok = False
        elif value is not _OMIT:
            values[index][spec.attr] = value
    for index, cls in enumerate(classes):
        for key, spec in _plan(cls).items():
            if key in present:
                continue
            value = _missing(spec, node, path, ctx, may_miss=key in lenient)
            if value is INVALID:
                ok = False
            elif value is not _OMIT:
                values[index][spec.attr] = value
    if not ok:
        return INVALID
    instances = []
    for cls, given in zip(classes, values, strict=True):
        try:
            instance = dataclasses.replace(base, **given) if base is not None else cls(**given)
        except ValueError as err:  # __post_init__: a combination of keys
            ctx.problem(node, path, str(err))
            ok = False
            continue
        instances.append(instance)
    return instances if ok else INVALID


def _read_key(
    spec: _Key, key_node: yaml.Node, node: yaml.Node, path: str, ctx: Checker, *, may_miss: bool
) -> Any:
    """The value of a key that is present: a value, :data:`_OMIT` (its default applies) or
    INVALID."""
    path = join(path, spec.key)
    # A sandbox replaces `may_miss` keys: their variables need not be set, silently. A dry run
    # needs no variable either (Checker.dry_run), but says which ones are unset.
    was = ctx.lenient_env, ctx.secret_field, ctx.may_default
    ctx.lenient_env = was[0] or may_miss
    ctx.secret_field = was[1] or spec.secret
    ctx.may_default = ctx.dry_run and not spec.required
    ctx.env_missing = False
    try:
        value = spec.kind.read(node, path, ctx)
    finally:
        ctx.lenient_env, ctx.secret_field, ctx.may_default = was
    if spec.secret:
        _warn_inline_secret(node, path, ctx, refuse=spec.env_only)
    if value is INVALID:
        if ctx.env_missing and (may_miss or (ctx.dry_run and not spec.required)):
            return _default(spec)
        return INVALID
    if value is UNSET:
        if spec.required and not may_miss:
            hint = f": set it, {SECRET_HINT}" if spec.secret else ""
            problem = f"is empty after ${{...}} substitution{hint}"
            if ctx.dry_run:
                names = env_names(str(getattr(node, "value", "")))
                head = f"is empty after ${{...}} substitution ({', '.join(names)})"
                return ctx.unset_value(node, path, head, problem, names)
            return ctx.problem(node, path, problem)
        return _default(spec)
    if spec.secret and isinstance(value, str) and value and not isinstance(value, UnsetEnv):
        ctx.secrets.add(value)
    return value


def _missing(spec: _Key, node: yaml.Node, path: str, ctx: Checker, *, may_miss: bool) -> Any:
    """What a key the mapping leaves out becomes."""
    if not spec.required or may_miss:
        return _default(spec)
    key = spec.key
    hint = f" (a secret: set it as {key}: ${{ENV_VAR}}, {SECRET_HINT})" if spec.secret else ""
    problem = f"missing required key {key!r}{hint}"
    if ctx.dry_run and spec.secret:
        # A dry run needs no secret, written or not (as before: a key left out).
        head = f"missing required key {key!r} (a secret: set it as {key}: ${{ENV_VAR}})"
        return ctx.unset_value(node, join(path, key), head, problem, ())
    return ctx.problem(node, join(path, key), problem)


def _default(spec: _Key) -> Any:
    """A key left to its default: the class's own, or ``None`` for a required key a sandbox or
    a dry run let through."""
    return _OMIT if spec.has_default else None


def _warn_inline_secret(node: yaml.Node, path: str, ctx: Checker, *, refuse: bool = False) -> None:
    """A secret written in the file itself (not as ``${VAR}``) ends up in version control: each
    such value, a list's items and a mapping's values included. ``refuse``: a problem, not a
    warning (a setting declared ``env_only``)."""
    if not ctx.show_lines:
        return  # a mapping config comes from code, which may have read the environment itself
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _warn_inline_secret(item, f"{path}[{index}]", ctx, refuse=refuse)
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _warn_inline_secret(
                value, join(path, str(getattr(key, "value", ""))), ctx, refuse=refuse
            )
        return
    if not isinstance(node, yaml.ScalarNode):
        return
    if node.tag == _NULL_TAG or "${" in str(node.value) or not str(node.value).strip():
        return
    key = path.rsplit(".", 1)[-1]
    if refuse:
        ctx.problem(
            node,
            path,
            f"this secret must come from the environment ({key}: ${{MY_SECRET}}), "
            "not be written in the file",
        )
    else:
        ctx.warn(
            node,
            path,
            f"a secret is written in the file: {INLINE_SECRET_FIX} "
            f"({key}: ${{MY_SECRET}}, set in the environment)",
        )


def check_name(node: yaml.Node, path: str, ctx: Checker) -> Any:
    """The name a key node holds (an account's, a template's...), or INVALID: names start with a
    letter or ``_`` and have letters, digits, ``_ . -``."""
    return _NAME.read(node, path, ctx)


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
        if _NAME.read(key_node, join(section, name), ctx) is not INVALID
    ]
