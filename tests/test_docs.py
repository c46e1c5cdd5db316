"""Hooks, CLI commands and config sections are documented API: these tests fail when one is not."""

from __future__ import annotations

import re
from pathlib import Path

import pluggy
import pytest

from notifykit import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def hook_names() -> list[str]:
    marker = "notifykit_spec"
    return sorted(name for name, value in vars(hookspecs).items() if hasattr(value, marker))


def headings(page: str) -> set[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^#{2,4} +(.+)$", text, re.MULTILINE)}


def test_there_are_hooks_to_document() -> None:
    assert len(hook_names()) >= 7
    assert isinstance(hookspecs.hookspec, pluggy.HookspecMarker)


@pytest.mark.parametrize("hook", hook_names())
def test_hook_is_documented(hook: str) -> None:
    assert hook in headings("plugins.md"), f"docs/plugins.md needs a '### {hook}' heading"


@pytest.mark.parametrize("hook", hook_names())
def test_hook_has_a_docstring(hook: str) -> None:
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


def cli_commands() -> list[str]:
    import click

    from notifykit.cli import cli

    names = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            names.extend(f"{name} {sub}" for sub in command.commands)
        else:
            names.append(name)
    return sorted(names)


@pytest.mark.parametrize("command", cli_commands())
def test_cli_command_is_documented(command: str) -> None:
    assert any(h.startswith(f"notifykit {command}") for h in headings("cli.md")), (
        f"docs/cli.md needs a heading for 'notifykit {command}'"
    )


def config_sections(group: str) -> list[str]:
    """The loader's top-level sections: ``core`` (documented in configuration.md and shown in
    config.example.yaml), ``scaleout`` (configuration.md) or ``routing`` (routing.md)."""
    from notifykit.config.loader import _SECTIONS
    from notifykit.config.scaleout import SECTIONS as SCALEOUT
    from notifykit.routing.config import ROUTING_SECTIONS

    groups = {"scaleout": list(SCALEOUT), "routing": list(ROUTING_SECTIONS)}
    if group in groups:
        return groups[group]
    return [s for s in _SECTIONS if s not in (*SCALEOUT, *ROUTING_SECTIONS)]


@pytest.mark.parametrize("section", config_sections("scaleout"))
def test_scaleout_section_is_documented(section: str) -> None:
    assert f"`{section}`" in " ".join(headings("configuration.md"))


@pytest.mark.parametrize("section", config_sections("routing"))
def test_routing_section_is_documented(section: str) -> None:
    assert any(f"`{section}:`" in h or f"`{section}`" in h for h in headings("routing.md"))


@pytest.mark.parametrize("section", config_sections("core"))
def test_config_section_is_documented(section: str) -> None:
    assert f"`{section}`" in " ".join(headings("configuration.md"))
    example = (DOCS.parent / "config.example.yaml").read_text(encoding="utf-8")
    assert re.search(rf"^{section}:", example, re.MULTILINE)


# -- the settings reference: generated from the declarations ------------------------------------


def test_the_settings_reference_is_the_one_the_declarations_generate() -> None:
    from notifykit.config.reference import BEGIN, END, reference

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = text[text.index(BEGIN) : text.index(END) + len(END) + 1]
    assert documented == reference(), (
        "docs/configuration.md's settings reference differs from the declarations: run "
        "python -m notifykit.config.reference"
    )


def test_the_settings_reference_has_every_key_of_every_core_section() -> None:
    from notifykit.config.reference import reference, sections
    from notifykit.config.settings import keys_of

    text = reference()
    for path, classes, _note in sections():
        heading = path.partition("`")[0]
        assert f"### `{heading}`" in text, path
        for cls in classes:
            for key in keys_of(cls):
                assert f"| `{key}` |" in text, f"{path}: {key}"


# -- what a channel's send() gets: docs/plugins.md's Recipient table -----------------------------


def recipient_table() -> dict[str, str]:
    """The rows of the Recipient table in docs/plugins.md: attribute -> what it says."""
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    start = text.index("| Attribute | In `send` |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.strip().startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`").split("(")[0]] = cells[1]
    return rows


def test_every_recipient_attribute_is_documented() -> None:
    import dataclasses

    from notifykit.channels import Recipient

    fields = {f.name for f in dataclasses.fields(Recipient)}
    public = fields | {name for name in vars(Recipient) if not name.startswith("_")}
    # the table's rows, at least
    assert fields == {"name", "phone", "display_name", "addresses", "delivery_id"}
    assert set(recipient_table()) == public, "docs/plugins.md: one row per Recipient attribute"


def test_recipients_in_send_are_as_documented(tmp_path: Path) -> None:
    """The table's claims, through a real notify(): what a phone channel and a `slack` channel
    get for a named recipient (with a display name), one with a slack address, and a raw number."""
    from notifykit import Notifier, hookimpl
    from notifykit.channels import ChannelType, DeliveryResult
    from notifykit.plugins import get_plugin_manager

    seen: dict[str, list[object]] = {}

    class Seeing:
        def __init__(self, settings: object, context: object) -> None:
            self.name = context.channel_name  # type: ignore[attr-defined]

        def prepare(self, message: object) -> object:
            return message

        def send(self, message: object, recipients: list[object]) -> list[DeliveryResult]:
            seen.setdefault(self.name, []).extend(recipients)
            return [DeliveryResult.sent(r) for r in recipients]  # type: ignore[arg-type]

    class Plugin:
        @hookimpl
        def register_channel_types(self, register):  # type: ignore[no-untyped-def]
            register(ChannelType(name="seeing-phone", factory=Seeing))
            register(ChannelType(name="seeing-slack", factory=Seeing, address="slack"))

    config = {
        "version": 1,
        "channels": {"p": {"type": "seeing-phone"}, "s": {"type": "seeing-slack"}},
        "recipients": {
            "alice": {"name": "Alice Rao", "phone": "09876543210"},
            "bob": {"phone": "+919876543211", "addresses": {"slack": "U123"}},
        },
        "groups": {"oncall": ["alice", "bob", "+919812345678"]},
        "defaults": {"channels": ["p", "s"], "to": ["oncall"]},
    }
    pm = get_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    kit = Notifier.from_config(config, plugin_manager=pm, store=":memory:")
    try:
        report = kit.notify("deploy.done", data={"message": "done"})
    finally:
        kit.close()
    by_channel = {
        channel: [(r.name, r.phone, r.display_name, dict(r.addresses), r.label) for r in got]
        for channel, got in seen.items()
    }
    assert by_channel == {
        "p": [
            ("alice", "+919876543210", None, {}, "alice"),
            ("bob", "+919876543211", None, {}, "bob"),
            (None, "+919812345678", None, {}, "+919812345678"),
        ],
        "s": [("bob", None, None, {"slack": "U123"}, "bob")],
    }
    skipped = {(d.recipient, d.error) for d in report.deliveries if d.state.value == "skipped"}
    assert skipped == {
        ("alice", "no slack address for alice"),
        ("+919812345678", "no slack address for +919812345678"),
    }
    assert "always `None`" in recipient_table()["display_name"]
