"""Tests for notifykit.text.templates: lookup order, strict and sandboxed rendering, error messages,
filters, caching, and the shipped default and example templates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2.utils import LRUCache

from notifykit.errors import TemplateError, TemplateNotFoundError, TemplateRenderError
from notifykit.india import check_dlt
from notifykit.text.sms import analyze_sms, check_length
from notifykit.text.templates import (
    DEFAULT_TEMPLATE_DIR,
    TemplateEngine,
    digits_filter,
    ist,
    phone_filter,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "templates"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tpl(tmp_path: Path) -> Path:
    directory = tmp_path / "tpl"
    directory.mkdir()
    return directory


@pytest.fixture
def engine(tpl: Path) -> TemplateEngine:
    return TemplateEngine([tpl])


# --- lookup -----------------------------------------------------------------------------------


def test_lookup_order_config_then_plugin_then_defaults(tmp_path: Path) -> None:
    config, plugin = tmp_path / "config", tmp_path / "plugin"
    for name in ("db_down.sms.j2", "only_plugin.sms.j2", "default.sms.j2"):
        write(plugin, name, f"plugin {name}")
    write(config, "db_down.sms.j2", "config db_down")
    engine = TemplateEngine([config], plugin_paths=[plugin])

    assert engine.render("db_down.sms", {}) == "config db_down"
    assert engine.render("only_plugin.sms", {}) == "plugin only_plugin.sms.j2"
    assert engine.render("default.sms", {}) == "plugin default.sms.j2"
    assert engine.locate("db_down.sms") == config / "db_down.sms.j2"
    assert engine.locate("only_plugin.sms") == plugin / "only_plugin.sms.j2"
    assert engine.locate("default.voice") == DEFAULT_TEMPLATE_DIR / "default.voice.j2"
    assert engine.search_dirs == (config, plugin, DEFAULT_TEMPLATE_DIR)


def test_several_configured_dirs_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write(first, "x.sms.j2", "first")
    write(second, "x.sms.j2", "second")
    write(second, "y.sms.j2", "second y")
    engine = TemplateEngine([first, second])
    assert engine.render("x.sms", {}) == "first"
    assert engine.render("y.sms", {}) == "second y"


def test_directory_order_beats_suffix_preference(tmp_path: Path) -> None:
    # A bare "x.sms" in the configured directory overrides "x.sms.j2" in a plugin directory.
    config, plugin = tmp_path / "config", tmp_path / "plugin"
    write(config, "x.sms", "config bare")
    write(plugin, "x.sms.j2", "plugin j2")
    engine = TemplateEngine([config], plugin_paths=[plugin])
    assert engine.resolve("x.sms") == "x.sms"
    assert engine.render("x.sms", {}) == "config bare"


def test_j2_suffix_preferred_within_a_directory(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "x.sms", "bare")
    write(tpl, "x.sms.j2", "j2")
    assert engine.resolve("x.sms") == "x.sms.j2"
    assert engine.render("x.sms", {}) == "j2"
    assert engine.render("x.sms.j2", {}) == "j2"


def test_subdirectory_names(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "hi/db_down.sms.j2", "हिंदी")
    assert engine.render("hi/db_down.sms", {}) == "हिंदी"


def test_defaults_can_be_left_out(tpl: Path) -> None:
    engine = TemplateEngine([tpl], include_defaults=False)
    assert not engine.exists("default.sms")
    assert TemplateEngine([tpl]).exists("default.sms")


def test_exists_and_list_templates(tmp_path: Path) -> None:
    config, plugin = tmp_path / "config", tmp_path / "plugin"
    write(config, "db_down.sms.j2", "a")
    write(config, ".db_down.sms.j2.swp", "editor junk")
    write(plugin, "db_down.sms.j2", "b")
    write(plugin, "otp.sms.j2", "c")
    engine = TemplateEngine([config], plugin_paths=[plugin])
    assert engine.exists("db_down.sms")
    assert engine.exists("otp.sms.j2")
    assert not engine.exists("nope.sms")
    assert engine.list_templates() == [
        "db_down.sms.j2",
        "default.sms.j2",
        "default.voice.j2",
        "otp.sms.j2",
    ]


def test_unknown_template_lists_directories(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    absent = tmp_path / "not-there"
    engine = TemplateEngine([config], plugin_paths=[absent])
    with pytest.raises(TemplateNotFoundError) as caught:
        engine.render("db_dwon.sms", {})
    message = str(caught.value)
    assert "'db_dwon.sms'" in message
    assert "db_dwon.sms.j2 or db_dwon.sms" in message
    assert str(config) in message
    assert f"{absent} (missing)" in message
    assert str(DEFAULT_TEMPLATE_DIR) in message
    assert caught.value.template == "db_dwon.sms"
    assert isinstance(caught.value, TemplateError)


def test_names_cannot_escape_the_template_directories(tmp_path: Path, tpl: Path) -> None:
    write(tmp_path, "secret.sms.j2", "secret")
    engine = TemplateEngine([tpl])
    assert not engine.exists("../secret.sms")
    with pytest.raises(TemplateNotFoundError):
        engine.render("../secret.sms", {})


def test_template_added_later_is_found(engine: TemplateEngine, tpl: Path) -> None:
    assert not engine.exists("late.sms")
    write(tpl, "late.sms.j2", "late")
    assert engine.render("late.sms", {}) == "late"


def test_search_path_must_be_a_list(tpl: Path) -> None:
    with pytest.raises(TypeError, match="list of directories"):
        TemplateEngine(str(tpl))


def test_missing_include_names_both_templates(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "outer.sms.j2", "{% include 'footer.j2' %}")
    with pytest.raises(TemplateNotFoundError) as caught:
        engine.render("outer.sms", {})
    assert "'outer.sms'" in str(caught.value)
    assert "'footer.j2'" in str(caught.value)


def test_include_and_extends_use_the_same_lookup(tmp_path: Path) -> None:
    config, plugin = tmp_path / "config", tmp_path / "plugin"
    write(plugin, "footer.j2", "-PLUGIN")
    write(config, "footer.j2", "-ACME")
    write(plugin, "alert.sms.j2", "Alert {{ event }} {% include 'footer.j2' %}")
    engine = TemplateEngine([config], plugin_paths=[plugin])
    assert engine.render("alert.sms", {"event": "x"}) == "Alert x -ACME"


# --- rendering --------------------------------------------------------------------------------


def test_trailing_newline_and_whitespace_trimmed(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "a.sms.j2", "Disk full on {{ host }}  \n\n")
    assert engine.render("a.sms", {"host": "db-1"}) == "Disk full on db-1"


def test_block_tags_leave_no_blank_lines(engine: TemplateEngine, tpl: Path) -> None:
    write(
        tpl,
        "a.sms.j2",
        "Alert\n  {% if host %}\nhost {{ host }}\n  {% endif %}\n{# note #}\nend\n",
    )
    assert engine.render("a.sms", {"host": "db-1"}) == "Alert\nhost db-1\nend"


def test_no_html_autoescaping(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "a.sms.j2", "{{ text }}")
    assert engine.render("a.sms", {"text": "CPU > 90% & <rising>"}) == "CPU > 90% & <rising>"


def test_unicode_template_and_data(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "hi.sms.j2", "चेतावनी: {{ host }} सर्वर डाउन है 🔥\n")
    body = engine.render("hi.sms", {"host": "डीबी-1"})
    assert body == "चेतावनी: डीबी-1 सर्वर डाउन है 🔥"
    assert analyze_sms(body).encoding == "UCS-2"


def test_missing_top_level_variable_is_named(engine: TemplateEngine, tpl: Path) -> None:
    path = write(tpl, "db_down.sms.j2", "ALERT\n{{ severity }}: {{ host }} down\n")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("db_down.sms", {"severity": "critical"})
    error = caught.value
    assert error.variable == "host"
    assert error.template == "db_down.sms"
    message = str(error)
    assert "'db_down.sms'" in message
    assert "'host'" in message
    assert f"{path}, line 2" in message
    assert "default" in message  # says how to fix it
    assert isinstance(error.__cause__, jinja2.UndefinedError)


def test_missing_nested_variable_is_named_with_its_path(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "db_down.sms.j2", "{{ event }} on {{ data.host }}")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("db_down.sms", {"event": "db_down", "data": {"region": "in"}})
    assert caught.value.variable == "data.host"
    assert "'data.host'" in str(caught.value)
    assert "'db_down.sms'" in str(caught.value)


def test_missing_subscript_variable(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "a.sms.j2", "{{ data['host'] }}")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("a.sms", {"data": {}})
    assert caught.value.variable == "data['host']"


def test_missing_variable_in_included_template(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "outer.sms.j2", "Alert\n{% include 'footer.j2' %}")
    footer = write(tpl, "footer.j2", "-\n{{ team.name }}")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("outer.sms", {"team": {}})
    assert caught.value.variable == "team.name"
    assert caught.value.template == "outer.sms"
    assert f"{footer}, line 2" in str(caught.value)


def test_undefined_cannot_be_printed_or_iterated(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "a.sms.j2", "{% for x in items %}{{ x }}{% endfor %}")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("a.sms", {})
    assert caught.value.variable == "items"


def test_default_filter_still_works_with_strict_undefined(
    engine: TemplateEngine, tpl: Path
) -> None:
    write(
        tpl,
        "a.sms.j2",
        "{{ data.host | default('unknown host') }}{% if x is defined %}!{% endif %}",
    )
    assert engine.render("a.sms", {"data": {}}) == "unknown host"


def test_syntax_error_names_file_and_line(engine: TemplateEngine, tpl: Path) -> None:
    path = write(tpl, "broken.sms.j2", "line one\n{% if host %}\nno endif\n")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("broken.sms", {"host": "x"})
    message = str(caught.value)
    assert "'broken.sms'" in message
    assert "syntax error" in message
    assert str(path) in message
    assert f"{path}, line 3: Unexpected end of template" in message
    assert ".." not in message
    assert isinstance(caught.value.__cause__, jinja2.TemplateSyntaxError)


def test_syntax_error_exact_line(engine: TemplateEngine, tpl: Path) -> None:
    path = write(tpl, "broken.sms.j2", "one\ntwo\n{{ host | }}\n")
    with pytest.raises(TemplateRenderError, match=rf"{path}, line 3: "):
        engine.render("broken.sms", {"host": "x"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ data.__init__ }}",
        "{{ items.append(4) }}",  # the immutable sandbox forbids mutating the data
        "{{ data.update({'a': 1}) }}",
    ],
)
def test_sandbox_blocks_unsafe_access(engine: TemplateEngine, tpl: Path, source: str) -> None:
    write(tpl, "evil.sms.j2", source)
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("evil.sms", {"data": {"a": 0}, "items": [1, 2, 3]})
    assert "'evil.sms'" in str(caught.value)
    assert "sandbox" in str(caught.value)
    assert isinstance(caught.value.__cause__, jinja2.exceptions.SecurityError)


def test_filter_errors_are_render_errors(engine: TemplateEngine, tpl: Path) -> None:
    path = write(tpl, "a.sms.j2", "Since\n{{ since | ist }}")
    with pytest.raises(TemplateRenderError) as caught:
        engine.render("a.sms", {"since": "yesterday"})
    assert "'a.sms'" in str(caught.value)
    assert f"{path}, line 2" in str(caught.value)
    assert "'yesterday' is not an ISO 8601 date-time" in str(caught.value)


# --- filters and globals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 28, 4, 0, tzinfo=timezone.utc), "28 Nov 2026 09:30 IST"),
        ("2026-11-28T04:00:00Z", "28 Nov 2026 09:30 IST"),
        ("2026-11-28T04:00:00.123+00:00", "28 Nov 2026 09:30 IST"),
        ("2026-11-28T09:30:00+05:30", "28 Nov 2026 09:30 IST"),
        (datetime(2026, 11, 28, 20, 0), "29 Nov 2026 01:30 IST"),  # naive = UTC, date rolls over
        (datetime(2026, 3, 5, 1, 2, tzinfo=timezone(timedelta(hours=-5))), "5 Mar 2026 11:32 IST"),
        (1795838400, "28 Nov 2026 09:30 IST"),
    ],
)
def test_ist_filter(value: Any, expected: str) -> None:
    assert ist(value) == expected


def test_ist_custom_format_and_errors() -> None:
    assert ist("2026-11-28T04:00:00Z", "%H:%M") == "09:30"
    with pytest.raises(ValueError, match="not an ISO 8601"):
        ist("tomorrow")
    with pytest.raises(TypeError, match="cannot format a list"):
        ist([])


def test_phone_and_digits_filters() -> None:
    assert phone_filter("+91 98765-43210") == "plus 9 1 9 8 7 6 5 4 3 2 1 0"
    assert phone_filter("09876543210") == "0 9 8 7 6 5 4 3 2 1 0"
    assert phone_filter(9876543210) == "9 8 7 6 5 4 3 2 1 0"
    assert digits_filter("OTP 4821") == "4 8 2 1"


def test_builtin_filters_available_in_templates(engine: TemplateEngine, tpl: Path) -> None:
    write(tpl, "a.voice.j2", "Call {{ n | phone }} at {{ t | ist }}. Code {{ otp | digits }}.")
    body = engine.render("a.voice", {"n": "+919876543210", "t": "2026-11-28T04:00:00Z", "otp": 42})
    assert body == "Call plus 9 1 9 8 7 6 5 4 3 2 1 0 at 28 Nov 2026 09:30 IST. Code 4 2."


def test_custom_filters_and_globals(tpl: Path) -> None:
    write(tpl, "a.sms.j2", "{{ brand }}: {{ host | shout }} {{ 5 | phone }}")
    filters: dict[str, Callable[..., Any]] = {
        "shout": lambda s: str(s).upper() + "!",
        "phone": lambda s: f"tel:{s}",  # a plugin may replace a built-in filter
    }
    engine = TemplateEngine([tpl], filters=filters, globals={"brand": "ACME"})
    assert engine.render("a.sms", {"host": "db-1"}) == "ACME: DB-1! tel:5"


def test_data_overrides_globals(tpl: Path) -> None:
    write(tpl, "a.sms.j2", "{{ brand }}")
    engine = TemplateEngine([tpl], globals={"brand": "ACME"})
    assert engine.render("a.sms", {"brand": "Other"}) == "Other"


def test_a_template_holds_its_globals_in_one_flat_dict(tpl: Path) -> None:
    # Rendering copies the globals into each context: from a dict, not key by key through the
    # ChainMap Jinja uses. The template-specific layer still shadows, and never leaks into, the
    # environment's globals.
    write(tpl, "a.sms.j2", "{{ brand }} {{ range(3) | list | length }} {{ extra | default('-') }}")
    engine = TemplateEngine([tpl], globals={"brand": "ACME"})
    template = engine.environment.get_template("a.sms.j2")
    assert type(template.globals) is dict
    assert template.globals["brand"] == "ACME"
    assert engine.render("a.sms", {}) == "ACME 3 -"
    own = engine.environment.get_template("a.sms.j2", globals={"extra": "x"})
    assert own.globals["extra"] == "x" and "extra" not in engine.environment.globals
    assert engine.environment.from_string("{{ brand }}{{ extra }}", {"extra": "!"}).render() == (
        "ACME!"
    )


# --- caching ----------------------------------------------------------------------------------


def test_second_render_neither_reads_nor_compiles(
    engine: TemplateEngine, tpl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tpl, "a.sms.j2", "Hello {{ name }}")
    loader = engine.environment.loader
    assert loader is not None
    calls: list[str] = []
    original = loader.get_source

    def counting_get_source(env: jinja2.Environment, name: str) -> Any:
        calls.append(name)
        return original(env, name)

    monkeypatch.setattr(loader, "get_source", counting_get_source)
    compiles: list[str | None] = []
    original_compile = engine.environment.compile

    def counting_compile(*args: Any, **kwargs: Any) -> Any:
        compiles.append(kwargs.get("name") or (args[1] if len(args) > 1 else None))
        return original_compile(*args, **kwargs)

    monkeypatch.setattr(engine.environment, "compile", counting_compile)

    assert engine.render("a.sms", {"name": "A"}) == "Hello A"
    assert engine.render("a.sms", {"name": "B"}) == "Hello B"
    assert engine.render("a.sms.j2", {"name": "C"}) == "Hello C"
    assert calls == ["a.sms.j2"]
    assert len(compiles) == 1


def test_cache_is_bounded_and_never_reloads(engine: TemplateEngine, tpl: Path) -> None:
    env = engine.environment
    assert env.auto_reload is False
    assert isinstance(env.cache, LRUCache)
    assert 0 < env.cache.capacity <= 1000
    path = write(tpl, "a.sms.j2", "old")
    assert engine.render("a.sms", {}) == "old"
    path.write_text("new", encoding="utf-8")
    assert engine.render("a.sms", {}) == "old"


# --- shipped templates ------------------------------------------------------------------------

ALERT: dict[str, Any] = {
    "event": "db_down",
    "severity": "critical",
    "message": "Primary DB unreachable",
    "data": {
        "host": "db-1",
        "since": "2026-11-28T04:00:00Z",
        "otp": "482913",
        "oncall_phone": "+91 98765 43210",
    },
}


def test_default_sms_template() -> None:
    engine = TemplateEngine()
    body = engine.render("default.sms", ALERT)
    assert body == "CRITICAL db_down: Primary DB unreachable"
    assert analyze_sms(body).encoding == "GSM-7" and analyze_sms(body).segments == 1
    assert engine.render("default.sms", {"event": "disk_full"}) == "INFO disk_full"


def test_default_voice_template() -> None:
    engine = TemplateEngine()
    speech = engine.render("default.voice", ALERT)
    assert speech.splitlines() == [
        "This is a critical alert from notifykit.",
        "db down.",
        "Primary DB unreachable.",
    ]
    assert engine.render("default.voice", {"event": "x"}).startswith("This is an alert")


# The DLT content templates the examples are written for, as one would register them.
EXAMPLE_DLT = {
    "db_down.sms": "ALERT {#var#}: database {#var#} is down since {#var#}. -ACME Ops",
    "otp.sms": (
        "{#var#} is your ACME verification code. It is valid for {#var#} minutes. "
        "Do not share it with anyone. -ACME"
    ),
    "generic.sms": "ACME {#var#} alert: {#var#}. -ACME Ops",
    "db_down_hi.sms": "चेतावनी: डेटाबेस {#var#} {#var#} से बंद है। -ACME",
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_DLT))
def test_example_sms_templates_match_their_dlt_patterns(name: str) -> None:
    engine = TemplateEngine([EXAMPLES])
    body = engine.render(name, ALERT)
    check_length(body, limit=2000, template=name)
    result = check_dlt(body, EXAMPLE_DLT[name])
    assert result.ok, result.problem
    assert analyze_sms(body).segments == 1


def test_example_values_are_cut_to_the_dlt_limit() -> None:
    engine = TemplateEngine([EXAMPLES])
    long_host = {**ALERT, "data": {**ALERT["data"], "host": "h" * 50}}
    body = engine.render("db_down.sms", long_host)
    assert check_dlt(body, EXAMPLE_DLT["db_down.sms"]).variables[1] == "h" * 30


def test_example_hindi_template_is_ucs2() -> None:
    body = TemplateEngine([EXAMPLES]).render("db_down_hi.sms", ALERT)
    assert body == "चेतावनी: डेटाबेस db-1 28 Nov 2026 09:30 IST से बंद है। -ACME"
    assert analyze_sms(body).encoding == "UCS-2"


def test_example_voice_template() -> None:
    speech = TemplateEngine([EXAMPLES]).render("db_down.voice", ALERT)
    assert "db 1 has been down since 09:30 India time" in speech
    assert "call plus 9 1 9 8 7 6 5 4 3 2 1 0." in speech
    without_phone = {**ALERT, "data": {"host": "db-1", "since": "2026-11-28T04:00:00Z"}}
    assert "call" not in TemplateEngine([EXAMPLES]).render("db_down.voice", without_phone)


def test_every_shipped_template_compiles() -> None:
    engine = TemplateEngine([EXAMPLES])
    names = engine.list_templates()
    assert len(names) >= 7
    for name in names:
        engine.environment.get_template(name)
