"""India's DLT rules read from a template's source (``notifykit.india.dlt_template_issues``,
``find_links``) and the outline they read (``notifykit.text.outline``)."""

from __future__ import annotations

import pytest

from notifykit.india import dlt_template_issues, dlt_variable_count, find_links, link_host
from notifykit.text.outline import Outline, outline_source
from notifykit.text.templates import TemplateEngine

ENGINE = TemplateEngine(include_defaults=False)


def shape(source: str) -> Outline:
    return outline_source(ENGINE, source)


def test_an_outline_has_fixed_text_and_the_parts_that_vary() -> None:
    found = shape("ALERT {{ severity | upper }}: db {{ data.host }} down.{{ ' -ACME' }}")
    assert [(p.fixed, p.names) for p in found.parts] == [
        ("ALERT ", ()),
        (None, ("severity",)),
        (": db ", ()),
        (None, ("data",)),
        (" down.", ()),
        (" -ACME", ()),  # a constant expression is fixed text
    ]
    assert found.fixed_text == "ALERT : db  down. -ACME"
    assert len(found.variables()) == 2


def test_blocks_vary_and_assignments_write_nothing() -> None:
    found = shape(
        "{% set tail = 'see https://x.example.com' %}Hi {% if a %}yes{% endif %} and "
        "{% for i in items %}{{ i }}{% endfor %}. {{ tail }}"
    )
    assert [p.fixed for p in found.parts] == ["Hi ", None, " and ", None, ". ", None]
    assert found.names >= {"a", "items", "tail"}
    assert "see https://x.example.com" in found.texts()
    assert not any(n.startswith("__") for n in found.names)  # the sandbox's helpers


def test_adjacent_varying_parts_are_a_warning() -> None:
    issues = dlt_template_issues(shape("Hi {{ a }}{{ b }} bye"), None, "t.sms")
    (issue,) = issues
    assert issue.severity == "warning" and issue.line == 1
    assert "t.sms has 2 varying parts with no fixed text between them (line 1)" in issue.message
    # White space between them is fixed text: {#var#} {#var#} is allowed.
    assert dlt_template_issues(shape("Hi {{ a }} {{ b }} bye"), None, "t.sms") == []


def test_more_stretches_than_registered_variables_is_an_error() -> None:
    source = "Hi {{ a }}, {{ b }}\nand {% if c %}{{ c }}{% endif %}."
    (issue,) = dlt_template_issues(shape(source), "Hi {#var#}, {#var#} and more.", "t.sms")
    assert issue.severity == "error" and issue.line == 1
    assert "3 stretches of text that vary (starting on lines 1, 2)" in issue.message
    assert "its registered DLT text has 2 {#var#}" in issue.message
    assert dlt_template_issues(shape(source), "Hi {#var#}, {#var#} and {#var#}.", "t.sms") == []


def test_a_malformed_pattern_is_left_to_the_config_check() -> None:
    assert dlt_template_issues(shape("Hi {{ a }}"), "{#var#}{#var#}", "t.sms") == []
    assert dlt_variable_count("ALERT {#var#}: {#VAR#} down") == 2
    with pytest.raises(ValueError, match="next to each other"):
        dlt_variable_count("a {#var#}{#var#} b")


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("Ack: https://alerts.example.com/nk/ack/abc. Thanks", ["https://alerts.example.com/nk/ack/abc"]),
        ("see www.acme.in, or http://x.io)", ["www.acme.in", "http://x.io"]),
        ("Visit https://acme.in/{#var#} now", ["https://acme.in/"]),
        ("no link: 10.5 www or http:/broken", []),
        ("twice https://a.in https://a.in", ["https://a.in"]),
    ],
)  # fmt: skip
def test_find_links(text: str, links: list[str]) -> None:
    assert find_links([text]) == links


def test_link_host() -> None:
    assert link_host("https://Alerts.Example.com:8443/x") == "alerts.example.com"
    assert link_host("www.acme.in/path") == "www.acme.in"
    assert link_host("https://") is None
