"""Settings declared once, as types: a section is a Settings class, one converter reads the YAML
into it with every problem at once (file, line, key path), and a validator of one's own takes a
Python value."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import pytest
import yaml

from notifykit.config.convert import convert, convert_parts
from notifykit.config.schema import INVALID, Checker, UnsetEnv
from notifykit.config.settings import (
    BySeverity,
    Duration,
    Phone,
    PhoneAsWritten,
    Settings,
    replace_keys,
    secret_keys,
    setting,
    values_by_key,
)
from notifykit.errors import PluginError


def no_shouting(value: str) -> Iterable[str]:
    if value.isupper():
        yield f"{value!r} is all capitals: write it as a sentence"


def weekday(text: str) -> int:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    if text not in days:
        raise ValueError(f"{text!r} is not a weekday: write one of {', '.join(days)}")
    return days.index(text)


class Sender(Settings):
    from_: str = setting(pattern=r"[A-Z]{6}", expected="a 6-letter sender id")
    priority: Literal["normal", "high"] | None = None


class Sample(Settings):
    """A sample section."""

    name: str = setting(doc="what it is called")
    token: str = setting(secret=True, doc="the API token")
    count: int = setting(default=3, min=1, max=10)
    ratio: float = setting(default=0.5, min=0, max=1)
    loud: bool = False
    mode: Literal["a", "b"] = "a"
    wait: Duration = setting(default=60.0, min=1, max=3600)
    phone: Phone | None = None
    exophone: PhoneAsWritten | None = None
    tags: tuple[str, ...] = setting(default=(), one_or_many=True)
    labels: Mapping[str, str] = setting(default_factory=dict)
    callers: BySeverity[PhoneAsWritten] | None = None
    senders: BySeverity[Sender] | None = None
    greeting: str | None = setting(default=None, check=no_shouting)
    days: tuple[int, ...] = setting(default=(), parse=weekday, unique=False)


def load(text: str, target: Any = Sample, **kwargs: Any) -> tuple[Any, list[str], Checker]:
    environ = kwargs.pop("environ", {})
    ctx = Checker("f.yaml", environ, dry_run=kwargs.pop("dry_run", False))
    node = yaml.compose(textwrap.dedent(text))
    value = convert(node, target, "s", ctx, **kwargs)
    problems = [f"{p.line}: {p.path}: {p.message}" for p in ctx.scrubbed(ctx.problems)]
    return value, problems, ctx


def test_a_declared_section_is_read_into_its_class() -> None:
    value, problems, _ = load(
        """
        name: db
        token: t0ken-value
        count: 7
        ratio: 0.25
        loud: true
        mode: b
        wait: 5m
        phone: "09876543210"
        exophone: "08088919888"
        tags: only
        labels: {team: sre}
        callers: "08088919888"
        senders: {default: {from: NKALRT}, critical: {from: NKPAGE, priority: high}}
        greeting: Hello there
        days: [mon, fri]
        """
    )
    assert problems == []
    assert isinstance(value, Sample)
    assert (value.name, value.count, value.ratio, value.loud, value.mode) == (
        "db",
        7,
        0.25,
        True,
        "b",
    )
    assert (
        value.wait == 300.0 and value.phone == "+919876543210" and value.exophone == "08088919888"
    )
    assert value.tags == ("only",) and value.labels == {"team": "sre"}
    assert value.callers == {"default": "08088919888"} and isinstance(value.callers, BySeverity)
    assert value.senders is not None
    assert value.senders.pick("error") == Sender(from_="NKALRT")
    assert value.senders.pick("critical") == {"from": "NKPAGE", "priority": "high"}
    assert value.days == (0, 4)


def test_left_out_keys_take_their_declared_defaults() -> None:
    value, problems, _ = load("{name: db, token: t}")
    assert problems == []
    assert value == Sample(name="db", token="t")
    assert (value.count, value.wait, value.tags, value.labels) == (3, 60.0, (), {})


def test_every_problem_at_once_with_line_and_key_path() -> None:
    _, problems, _ = load(
        """
        nmae: db
        count: 11
        ratio: lots
        loud: yes please
        mode: c
        wait: 2 hours
        phone: "12345"
        senders: {critical: {from: nkalrt, prio: high}}
        greeting: HELLO
        days: [mon, funday]
        """
    )
    assert problems == [
        "2: s.nmae: unknown key 'nmae' (did you mean 'name'?); allowed: callers, count, days, "
        "exophone, greeting, labels, loud, mode, name, phone, ratio, senders, tags, token, wait",
        "3: s.count: must be at most 10, got 11",
        "4: s.ratio: expected a number, got 'lots'",
        "5: s.loud: expected true or false, got the string 'yes please'",
        "6: s.mode: 'c' is not one of a, b",
        "7: s.wait: '2 hours' is not a duration: write it like 30s, 5m, 4h or 1h30m",
        "8: s.phone: '12345' is not a valid phone number: write it in E.164 (+91XXXXXXXXXX), "
        "or as an Indian number: 10 digits, or with a 0 or 91 prefix (09876543210, 919876543210)",
        "9: s.senders.critical.from: 'nkalrt' is not a 6-letter sender id",
        "9: s.senders.critical.prio: unknown key 'prio' (did you mean 'priority'?); allowed: "
        "from, priority",
        "10: s.greeting: 'HELLO' is all capitals: write it as a sentence",
        "11: s.days[1]: 'funday' is not a weekday: write one of mon, tue, wed, thu, fri, sat, sun",
        "2: s.name: missing required key 'name'",
        "2: s.token: missing required key 'token' (a secret: set it as token: ${ENV_VAR}, or "
        "run with --dry-run (sends nothing) or --sandbox (the local simulator))",
    ]


def test_a_severity_table_needs_its_default() -> None:
    _, problems, _ = load("{name: a, token: t, senders: {error: {from: NKALRT}}}")
    assert problems == [
        "1: s.senders: missing 'default' (used for severities without their own entry)"
    ]


def test_a_secret_is_collected_scrubbed_and_never_shown() -> None:
    value, problems, ctx = load(
        "{name: '${TOKEN}', token: '${TOKEN}', mode: '${TOKEN}'}",
        environ={"TOKEN": "s3cr3t-value"},
    )
    assert problems == ["1: s.mode: '***' is not one of a, b"]
    assert ctx.secrets == {"s3cr3t-value"}
    value, _, _ = load("{name: a, token: '${TOKEN}'}", environ={"TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(value) and "token=***" in repr(value)
    assert secret_keys(Sample) == {"token"}


def test_a_secret_written_in_the_file_is_a_warning() -> None:
    _, problems, ctx = load("{name: a, token: s3cr3t-value}")
    assert problems == []
    [warning] = ctx.warnings
    assert (warning.path, "s3cr3t-value" in warning.message) == ("s.token", False)


def test_a_secret_list_item_written_in_the_file_is_a_warning() -> None:
    class Listed(Settings):
        urls: tuple[str, ...] = setting(secret=True, one_or_many=True)

    _, problems, ctx = load(
        "{urls: ['${URL}', 'tgram://s3cr3t-value/']}", Listed, environ={"URL": "x"}
    )
    assert problems == []
    [warning] = ctx.warnings
    assert (warning.path, "s3cr3t-value" in warning.message) == ("s.urls[1]", False)


def test_a_dry_run_reads_unset_strings_as_unset_and_numbers_as_their_default() -> None:
    value, problems, ctx = load(
        "{name: '${NAME}', token: '${TOKEN}', count: '${COUNT}'}", dry_run=True
    )
    assert problems == []
    assert isinstance(value.name, UnsetEnv) and value.name == "<unset:${NAME}>"
    assert value.count == 3
    assert [w.path for w in ctx.warnings] == ["s.name", "s.token", "s.count"]
    assert [p.path for p in ctx.unset] == ["s.name", "s.token", "s.count"]


def test_an_empty_item_of_a_list_is_a_problem() -> None:
    _, problems, _ = load("{name: a, token: t, tags: [x, '${EMPTY:-}']}")
    assert problems == ["1: s.tags[1]: is empty after ${...} substitution"]


class Window(Settings):
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")


def test_a_combination_of_keys_is_checked_in_post_init() -> None:
    value, problems, _ = load("{start: 5, end: 9}", Window)
    assert value == Window(start=5, end=9) and problems == []
    value, problems, _ = load("\n\n{start: 5, end: 2}", Window)
    assert value is INVALID
    assert problems == ["3: s: end 2 is not after start 5"]


class Route(Settings):
    receiver: str | None = None
    routes: tuple[Route, ...] = setting(default=(), unique=False)
    refused_keys: ClassVar[Mapping[str, str]] = {"match": "match: is the old form: write matchers:"}


def test_nested_and_recursive_sections_and_refused_keys() -> None:
    value, problems, _ = load(
        "{receiver: a, routes: [{receiver: b, routes: [{receiver: c}]}]}", Route
    )
    assert problems == []
    assert value.routes[0].routes[0].receiver == "c"
    _, problems, _ = load("{routes: [{match: {a: b}}]}", Route)
    assert problems == ["1: s.routes[0].match: match: is the old form: write matchers:"]


class Retry(Settings):
    initial: Duration = 2.0
    deadline: Duration = 900.0


def test_a_base_gives_the_keys_left_out() -> None:
    top = Retry(initial=5.0)
    value, problems, _ = load("{deadline: 30m}", Retry, base=top)
    assert problems == [] and value == Retry(initial=5.0, deadline=1800.0)


class Dlt(Settings):
    dlt_id: str | None = setting(default=None, pattern=r"\d+", expected="a numeric id")


class Kind(Settings):
    kind: Literal["transactional", "promotional"] | None = None


def test_a_mapping_shared_by_several_declarations() -> None:
    ctx = Checker("f.yaml", {})
    node = yaml.compose("{dlt_id: '12', kind: promotional}")
    assert convert_parts(node, (Dlt, Kind), "t", ctx) == [
        Dlt(dlt_id="12"),
        Kind(kind="promotional"),
    ]
    node = yaml.compose("{dlt_idd: '12'}")
    assert convert_parts(node, (Dlt, Kind), "t", ctx) is INVALID
    assert ctx.problems[0].message == (
        "unknown key 'dlt_idd' (did you mean 'dlt_id'?); allowed: dlt_id, kind"
    )


def test_settings_read_by_key_and_compare_with_a_mapping() -> None:
    sender = Sender(from_="NKALRT", priority="high")
    assert sender["from"] == "NKALRT" and sender.get("priority") == "high"
    assert sender.get("nope", 1) == 1 and "from" in sender and "from_" not in sender
    assert sender == {"from": "NKALRT", "priority": "high"}
    assert values_by_key(sender) == {"from": "NKALRT", "priority": "high"}
    assert replace_keys(sender, {"priority": None, "other": 1}) == Sender(from_="NKALRT")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sender.priority = "normal"  # type: ignore[misc]


class Broken(Settings):
    when: Undeclared = None  # type: ignore[name-defined]  # noqa: F821


def test_annotations_are_resolved_at_the_first_conversion_not_at_declaration() -> None:
    # Declaring Broken above did not fail: its annotation is read when it is first converted.
    with pytest.raises(PluginError, match=r"Broken: cannot resolve its annotations.*Undeclared"):
        load("{when: now}", Broken)


class Unsupported(Settings):
    value: complex = 0j


def test_a_type_the_converter_does_not_read_is_a_plugin_error() -> None:
    with pytest.raises(
        PluginError, match=r"Unsupported.value: <class 'complex'> is not a settings type"
    ):
        load("{value: 1}", Unsupported)


class Titled(Settings):
    title: str | None = setting(default="[{severity}] {event}", doc="a title")
    count: int | None = setting(default=3, doc="a count")


def test_an_optional_setting_takes_yaml_null() -> None:
    """``X | None``: ``key: null`` (or ``~``, or nothing) is None, not a type problem."""
    for text in ("title: null\ncount: ~\n", "title:\ncount:\n"):
        value, problems, _ = load(text, Titled)
        assert problems == []
        assert (value.title, value.count) == (None, None)
    value, problems, _ = load("title: x\n", Titled)
    assert problems == [] and (value.title, value.count) == ("x", 3)
