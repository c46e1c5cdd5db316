"""Templates are trusted, but a mistake in one must not hang the load of a config, ``config check``
or an alert: huge powers and repetitions, long ranges, loops of loops, endless recursion.

Everything that could hang runs in a child process with a deadline, so a regression fails the
test instead of hanging the suite; "fast" is asserted with generous bounds for a loaded machine.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from notifykit.errors import TemplateError, TemplateRenderError
from notifykit.text.templates import (
    MAX_OUTPUT,
    MAX_SIZE,
    TemplateEngine,
    TemplateLimitError,
)

BOMBS = {
    "power": "{{ 9**(9**9) }}",
    "repeat": "{{ 'a'*10**9 }}",
    "repeat_literal": "{{ 'a' * 1000000000 }}",
    "repeat_list": "{{ ([1] * 1000000000)|length }}",
    "range": "{% for i in range(10**9) %}{{ i }}{% endfor %}",
    "loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "data_loops": "{% for a in items %}{% for b in items %}{% for c in items %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "exponential": "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
    "{% endmacro %}{{ f(0) }}",
    "doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "center_filter": "{{ 'a'|center(1000000000) }}",
    "center_method": "{{ 'a'.center(1000000000) }}",
    "percent_width": "{{ '%999999999d' % 1 }}",
    "format_width": "{{ '{:>999999999}'.format(1) }}",
    "replace": "{{ ('a' * 99999)|replace('a', 'a' * 99999) }}",
    "output": "{% for i in range(99999) %}{{ 'abcdefghij' }}{% endfor %}",
    "self_include": "{% include 'self_include.sms.j2' %}",
    "deep_expression": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
}

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from notifykit.errors import TemplateError
    from notifykit.text.templates import TemplateEngine
    engine = TemplateEngine([sys.argv[1]], render_timeout=float(sys.argv[2]))
    results = {}
    for name in sys.argv[3:]:
        start = time.monotonic()
        compiled = None
        try:
            try:
                engine.environment.get_template(name + ".sms.j2")  # what loading a config does
                compiled = time.monotonic() - start
            except RecursionError:
                pass  # a deeply nested expression: render() must say so as a TemplateError
            engine.render(name + ".sms", {"items": list(range(2000))})
            outcome = {"error": None}
        except TemplateError as err:
            outcome = {"error": type(err).__name__, "message": str(err), "template": err.template}
        except BaseException as err:
            outcome = {"error": "!" + type(err).__name__, "message": str(err)[:300]}
        outcome["compile_seconds"] = compiled
        outcome["seconds"] = time.monotonic() - start
        results[name] = outcome
    print(json.dumps(results))
    """
)


def run_child(directory: Path, names: list[str], timeout: float) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(directory), str(timeout), *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results: dict[str, dict[str, object]] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    directory = tmp_path_factory.mktemp("bombs")
    for name, text in BOMBS.items():
        (directory / f"{name}.sms.j2").write_text(text, encoding="utf-8")
    return run_child(directory, list(BOMBS), timeout=0.5)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_bomb_fails_fast_as_a_template_error(bomb_results, name):
    outcome = bomb_results[name]
    assert outcome["error"] == "TemplateLimitError", outcome
    assert outcome["template"] == f"{name}.sms", outcome
    assert f"Template '{name}.sms'" in str(outcome["message"])
    # a 0.5 s budget, and everything else refused before it starts
    assert float(outcome["seconds"]) < 2.0, outcome  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("power", "9 ** 387420489 would have about 1,228,093,894 bits, over the limit of 4,096"),
        (
            "repeat",
            f"a repeated string or list would be 1,000,000,000 long, over the limit of "
            f"{MAX_SIZE:,}",
        ),
        ("range", "range(1000000000) has 1,000,000,000 numbers"),
        ("loops", "ran past its time budget"),
        ("data_loops", "ran past its time budget"),
        ("exponential", "ran past its time budget"),
        ("recursion", "recursed too deeply"),
        ("self_include", "recursed too deeply"),
        ("deep_expression", "recursed too deeply"),
        ("doubling", "a joined string (~) would be"),
        ("center_method", "str.center() would be 1,000,000,000 long"),
        ("format_width", "a str.format() field would be 999,999,999 long"),
        ("output", f"produced more than {MAX_OUTPUT:,} characters of output"),
    ],
)
def test_the_message_names_the_limit_and_the_line(bomb_results, name, says):
    message = str(bomb_results[name]["message"])
    assert says in message, message
    if name not in ("recursion", "self_include", "deep_expression", "output"):
        assert f"{name}.sms.j2, line 1)" in message, message


def test_nothing_is_evaluated_while_compiling(bomb_results):
    # Jinja folds constant expressions at compile time; 'a'|center(1000000000) and 9**(9**9)
    # would be computed while loading the config. Compiling must take no time at all.
    for name in ("power", "repeat_literal", "center_filter", "percent_width"):
        compile_seconds = bomb_results[name]["compile_seconds"]
        assert compile_seconds is not None and float(compile_seconds) < 0.5, (  # type: ignore[arg-type]
            name,
            bomb_results[name],
        )


def test_config_check_of_a_config_using_the_bombs_is_fast(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    events = []
    for name in ("power", "repeat_literal", "center_filter", "loops", "exponential"):
        (templates / f"{name}.sms.j2").write_text(BOMBS[name], encoding="utf-8")
        events.append(f"  {name}: {{template: {name}}}")
    (tmp_path / "notifykit.yaml").write_text(
        "version: 1\ndefaults: {channels: [console], to: ['+919876543210']}\n"
        "channels:\n  console: {type: console}\nevents:\n" + "\n".join(events) + "\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "notifykit", "config", "check", str(tmp_path / "notifykit.yaml")],
        capture_output=True,
        text=True,
        timeout=15,
        env={"PATH": "/usr/bin:/bin", "NOTIFYKIT_DISABLE_PLUGINS": ""},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": OK (" in done.stdout


def test_ordinary_templates_are_untouched(tpl_engine):
    engine, directory = tpl_engine
    (directory / "ok.sms.j2").write_text(
        "{% for i in items %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}"
        "{% endfor %} {{ 2**10 }} {{ 'ab' * 3 }} {{ 'x' ~ n ~ 'y' }} {{ '%05.1f' % 3.14159 }} "
        "{{ 'Order 1234567: %s' % n }} {{ 'Ticket 1234567 {}'.format(n) }} {{ 'ab'|center(6) }}"
        "|{{ range(3)|list|length }} {{ 'a\nb'|indent(2) }} {{ 'aa'|replace('a', 'bc') }}",
        encoding="utf-8",
    )
    assert engine.render("ok.sms", {"items": "abc", "n": 7}) == (
        "1/3,2/3,3/3 1024 ababab x7y 003.1 Order 1234567: 7 Ticket 1234567 7   ab  |3 a\n  b bcbc"
    )


@pytest.fixture
def tpl_engine(tmp_path: Path) -> tuple[TemplateEngine, Path]:
    directory = tmp_path / "tpl"
    directory.mkdir()
    return TemplateEngine([directory], render_timeout=0.5), directory


def test_limit_errors_are_template_errors_that_pickle(tpl_engine):
    engine, directory = tpl_engine
    (directory / "big.sms.j2").write_text("{{ 'a' * 10**9 }}", encoding="utf-8")
    with pytest.raises(TemplateLimitError) as info:
        engine.render("big.sms", {})
    assert isinstance(info.value, TemplateRenderError) and isinstance(info.value, TemplateError)
    assert info.value.__cause__ is None  # the internal signal is not part of the error
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is TemplateLimitError
    assert (str(again), again.template) == (str(info.value), "big.sms")


def test_the_time_budget_is_per_render(tpl_engine):
    # A render that finishes in time leaves no deadline behind for the next one.
    engine, directory = tpl_engine
    (directory / "quick.sms.j2").write_text("{% for i in range(10) %}{{ i }}{% endfor %}")
    assert engine.render("quick.sms", {}) == "0123456789"
    assert engine.render("quick.sms", {}) == "0123456789"


def test_render_timeout_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="render_timeout"):
        TemplateEngine([tmp_path], render_timeout=0)
