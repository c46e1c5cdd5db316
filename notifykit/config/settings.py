"""Settings declared once, as types: what the core and plugins write to say which keys a config
section has, of what type, with what default, constraint and documentation.

A section is a subclass of :class:`Settings` whose fields are its keys (it becomes a frozen,
keyword-only dataclass by itself: no decorator)::

    class SlackSettings(Settings):
        \"\"\"A Slack channel.\"\"\"

        webhook: str = setting(pattern=r"https://\\S+", expected="an https URL", secret=True,
                               doc="the incoming-webhook URL")
        timeout: Duration = setting(default=10.0, min=1, max=300, doc="seconds per request")
        mentions: tuple[str, ...] = setting(default=(), doc="who to @-mention")

One converter (:func:`notifykit.config.convert.convert`) turns the YAML into instances, every
problem reported at once as ``file:line: key.path: message``; a channel factory or a provider's
``connect`` gets the instance. The field's annotation is its type: ``str``, ``int``, ``float``,
``bool``, ``Literal["a", "b"]``, :data:`Duration` (``30s``, ``5m``), :data:`Phone` (validated, then
E.164), :data:`PhoneAsWritten`, :data:`Target` (a recipient, group or phone number),
another :class:`Settings` class (a nested mapping), ``tuple[X, ...]`` or ``list[X]``,
``Mapping[str, X]``, :class:`BySeverity` ``[X]`` (one value, or a table by severity), and
``X | None``. :func:`setting` adds the default (no default: the key is required), the doc, and
constraints; ``check`` is a validator of your own: it takes the converted Python value and returns
problems (strings), never a YAML node.

Annotations are resolved at the first conversion of a class, not when it is declared: a plugin
declaring many settings classes costs nothing at import beyond the dataclasses themselves.

This module imports no YAML: a plugin declaring settings does not load the converter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NewType, TypeVar

from notifykit.model import SEVERITIES, severity_rank

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Callable[[Any], Any]:
        return lambda cls: cls  # only type checkers read it


__all__ = [
    "NAME_PATTERN",
    "BySeverity",
    "ConfigWarning",
    "Duration",
    "NoSettings",
    "Phone",
    "PhoneAsWritten",
    "Settings",
    "Spec",
    "Target",
    "derived",
    "is_loopback",
    "keys_of",
    "parse_duration",
    "replace_keys",
    "secret_keys",
    "server_url_problems",
    "setting",
    "spec_of",
    "values_by_key",
]

T = TypeVar("T")
S = TypeVar("S", bound="Settings")

Duration = NewType("Duration", float)
"""Seconds, written Go-style: ``250ms``, ``30s``, ``5m``, ``4h``, ``1h30m``, ``2d``, or a number."""

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``30s``, ``5m``, ``1h30m``, ``250ms``, ``2d``); a bare
    number is seconds. ``None`` when the text is not one."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


Phone = NewType("Phone", str)
"""A phone number, validated with libphonenumber and stored in E.164 (Indian national numbers
are accepted: ``09876543210``)."""

PhoneAsWritten = NewType("PhoneAsWritten", str)
"""A possible phone number, kept as written (an ExoPhone such as ``08088919888``, used exactly as
the provider's dashboard shows it)."""

Target = NewType("Target", str)
"""A recipient or group name (checked once the file is read), or a phone number (E.164)."""

#: the names of accounts, channels, recipients, groups, receivers, escalations, time intervals
NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_.-]*"

_MISSING: Any = dataclasses.MISSING
_META = "notifykit"


class ConfigWarning(str):
    """What a ``check`` validator returns to warn rather than refuse: the value is kept, and the
    message is a warning at the key (``config check`` prints it, ``--strict`` fails on it), as
    for a secret written in the file. ``yield ConfigWarning("http:// sends it unencrypted")``."""

    __slots__ = ()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost`` or a loopback address (an IPv6 one
    in its URL brackets too)."""
    import ipaddress

    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url_problems(url: str, *, example: str, secret: str) -> Iterator[str]:
    """What is wrong with a provider account's ``base_url`` (a ``check``): it must be
    ``https://`` (``http://`` only to this machine: a fake or a test) and name the server only,
    with no path, user or query, since the credential goes in a header. ``example`` is the
    provider's own server (``https://api.example.com``), ``secret`` what the credential is
    called (``the authkey``); the URL itself is never repeated."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        yield "is not a valid URL: write https://host[:port]"
        return
    if parts.scheme not in ("http", "https") or not host:
        yield f"must be an https:// URL with a host, e.g. {example}"
        return
    if parts.username is not None or parts.password is not None or parts.query:
        yield f"must not carry a user, password or query: {secret} is sent in a header"
        return
    if parts.path not in ("", "/"):
        yield f"must be the server only ({example}), without a path"
        return
    if parts.scheme == "http" and not is_loopback(host):
        yield (
            f"must be https:// (http:// only to this machine, for a fake): {secret} would "
            "cross the network readable"
        )


@dataclasses.dataclass(frozen=True)
class Spec:
    """What :func:`setting` says about a key besides its type and default (see there)."""

    doc: str = ""
    secret: bool = False
    env_only: bool = False
    required: bool = False
    check: Callable[[Any], Iterable[str]] | None = None
    parse: Callable[[str], Any] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    expected: str | None = None
    ref: str | None = None
    min_items: int = 0
    unique: bool = True
    one_or_many: bool = False
    key: str | None = None
    #: not a key of the file: a value the loader computes (:func:`derived`)
    derived: bool = False


_PLAIN = Spec()


def setting(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] = _MISSING,
    doc: str = "",
    secret: bool = False,
    env_only: bool = False,
    required: bool = False,
    check: Callable[[Any], Iterable[str]] | None = None,
    parse: Callable[[str], Any] | None = None,
    min: float | None = None,
    max: float | None = None,
    pattern: str | None = None,
    expected: str | None = None,
    ref: str | None = None,
    min_items: int = 0,
    unique: bool = True,
    one_or_many: bool = False,
    key: str | None = None,
    repr: bool = True,
) -> Any:
    """One key of a :class:`Settings` class.

    :param default: its value when the file leaves it out; without one (nor ``default_factory``)
        the key is required. Use tuples, not lists, for list defaults.
    :param doc: what it means, for the settings reference of ``docs/configuration.md``.
    :param secret: a token or password: scrubbed (``***``) from every problem, report and log,
        never in a ``repr``, and a warning when written in the file instead of ``${ENV_VAR}``.
    :param env_only: with ``secret``: written in the file instead of ``${ENV_VAR}`` is a
        problem, not a warning (a secret that guards a URL anyone may call).
    :param required: required in the file although the object has a default (for sections
        whose object exists without the section).
    :param check: your validator: ``check(value)`` gets the converted value and returns the
        problems it finds (strings, each reported at the key), or nothing; a
        :class:`ConfigWarning` among them is a warning, not a problem.
    :param parse: reads each value (each item of a list) from its text: ``parse(text)`` returns
        the value, or raises ``ValueError`` whose message is the problem.
    :param min: the smallest number or duration (seconds) allowed, inclusive.
    :param max: the largest, inclusive.
    :param pattern: a regular expression a string (each string of a list) must match whole.
    :param expected: what a matching value looks like, for messages (``"a numeric id"``).
    :param ref: the kind of configured thing the string names (``"account"``, ``"channel"``),
        checked once the whole file is read, with a "did you mean".
    :param min_items: the fewest items a list may have.
    :param unique: a list may not name the same item twice.
    :param one_or_many: a list that also takes one item on its own (``to: alice``).
    :param key: the key in the file when it differs from the attribute (an attribute ``from_``
        is the key ``from`` without saying so).
    :param repr: ``False`` keeps the value out of ``repr`` (a URL that may hold a password).
    """
    spec = Spec(
        doc=doc,
        secret=secret,
        env_only=env_only,
        required=required,
        check=check,
        parse=parse,
        min=min,
        max=max,
        pattern=pattern,
        expected=expected,
        ref=ref,
        min_items=min_items,
        unique=unique,
        one_or_many=one_or_many,
        key=key,
    )
    field: Any = dataclasses.field(  # one call: dataclasses.field refuses both defaults given
        default=default,
        default_factory=default_factory,
        repr=repr and not secret,
        metadata={_META: spec},
    )
    return field


def derived(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] = _MISSING,
    doc: str = "",
    compare: bool = True,
) -> Any:
    """An attribute that is not a key of the file: the loader computes it (``implicit``, the
    lines of a section's keys...)."""
    field: Any = dataclasses.field(
        default=default,
        default_factory=default_factory,
        compare=compare,
        repr=compare,
        metadata={_META: Spec(doc=doc, derived=True)},
    )
    return field


def spec_of(field: dataclasses.Field[Any]) -> Spec:
    """The :class:`Spec` of a dataclass field (a plain field has an empty one)."""
    spec = field.metadata.get(_META)
    return spec if isinstance(spec, Spec) else _PLAIN


def _key_name(field: dataclasses.Field[Any], spec: Spec) -> str:
    if spec.key is not None:
        return spec.key
    name = field.name
    return name[:-1] if name.endswith("_") and not name.endswith("__") else name


_INITS: dict[type, list[tuple[str, Any, Any]]] = {}


def _init_fields(cls: type[Settings]) -> list[tuple[str, Any, Any]]:
    """``(name, default, default_factory)`` of every field of ``cls``, for :class:`Settings`'s
    ``__init__``."""
    found = _INITS.get(cls)
    if found is None:
        found = [(f.name, f.default, f.default_factory) for f in dataclasses.fields(cls)]
        _INITS[cls] = found
    return found


_KEYS: dict[type, dict[str, str]] = {}


def keys_of(cls: type[Settings]) -> dict[str, str]:
    """The keys of a settings class in the file, in declaration order, each with its attribute
    (derived attributes are no keys)."""
    keys = _KEYS.get(cls)
    if keys is None:
        keys = {}
        for field in dataclasses.fields(cls):
            spec = spec_of(field)
            if not spec.derived:
                keys[_key_name(field, spec)] = field.name
        _KEYS[cls] = keys
    return keys


def secret_keys(cls: type[Settings]) -> frozenset[str]:
    """The keys of ``cls`` declared ``secret``."""
    return frozenset(_key_name(f, spec_of(f)) for f in dataclasses.fields(cls) if spec_of(f).secret)


def values_by_key(settings: Settings) -> dict[str, Any]:
    """``{key: value}`` for every key of ``settings``, as the file spells the keys."""
    return {key: getattr(settings, attr) for key, attr in keys_of(type(settings)).items()}


def replace_keys(settings: S, values: Mapping[str, Any]) -> S:
    """A copy of ``settings`` with some keys (as the file spells them) set to ``values``
    (a sandbox's ``base_url``...); keys the class does not have are left out."""
    keys = keys_of(type(settings))
    changes = {keys[key]: value for key, value in values.items() if key in keys}
    return dataclasses.replace(settings, **changes) if changes else settings


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting, derived))
class Settings:
    """Base of every settings declaration (see the module docstring).

    A subclass is a frozen dataclass, built with keyword arguments. It compares equal to another instance of its
    class with the same values, and to a mapping of its keys (as the file spells them) and
    values; ``settings["key"]`` and ``settings.get("key")`` read a key by its name in the file,
    for code written before settings were typed. ``repr`` never shows a secret.

    A class may check a combination of keys in ``__post_init__``: a ``ValueError`` raised there
    is a problem of the mapping it was read from.
    """

    #: keys the file may not have, each with the problem it is (a fix for an old spelling)
    refused_keys: ClassVar[Mapping[str, str]] = {}

    if TYPE_CHECKING:  # what makes a subclass a dataclass to mypy's dataclasses functions
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A dataclass for its fields (dataclasses.fields, replace), whose methods are this
        # class's: generating __init__, __setattr__... per class costs start-up time (about
        # 0.3 ms a class, ~20 classes on the way to a first notify()) for nothing.
        dataclasses.dataclass(init=False, repr=False, eq=False, match_args=False)(cls)

    def __init__(self, **values: Any) -> None:
        for name, default, factory in _init_fields(type(self)):
            if name in values:
                value = values.pop(name)
            elif default is not _MISSING:
                value = default
            elif factory is not _MISSING:
                value = factory()
            else:
                raise TypeError(f"{type(self).__qualname__}() needs the keyword argument {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(
                f"{type(self).__qualname__}() got an unexpected keyword argument "
                f"{next(iter(values))!r}"
            )
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __getitem__(self, key: str) -> Any:
        attr = keys_of(type(self)).get(key)
        if attr is None:
            raise KeyError(key)
        return getattr(self, attr)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (as the file spells it), or ``default`` if there is no such key."""
        attr = keys_of(type(self)).get(key)
        return default if attr is None else getattr(self, attr)

    def __contains__(self, key: object) -> bool:
        return key in keys_of(type(self))

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self) if f.compare)

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            assert isinstance(other, Settings)
            return self._compared() == other._compared()
        if isinstance(other, Mapping):
            return values_by_key(self) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if spec_of(field).secret:
                parts.append(f"{field.name}=***" if value else f"{field.name}={value!r}")
            elif field.repr:
                parts.append(f"{field.name}={value!r}")
        return f"{type(self).__qualname__}({', '.join(parts)})"


class NoSettings(Settings):
    """A channel type or provider without settings of its own."""


class BySeverity(dict[str, T]):
    """A value chosen by severity: one value for every severity (written alone), or a table with
    a ``default`` and any of the severities (``info``, ``warning``, ``error``, ``critical``).

    :meth:`pick` takes the entry of the severity itself, else the entry of the highest severity
    below it, else ``default``: ``{default: A, error: B}`` gives ``B`` for ``error`` and
    ``critical``. A table of mappings (a :class:`Settings` item) is only written as a table."""

    def pick(self, severity: str) -> T:
        """The value for ``severity``."""
        rank = severity_rank(severity)
        for candidate in reversed(SEVERITIES[: rank + 1]):
            if candidate in self:
                return self[candidate]
        return self["default"]
