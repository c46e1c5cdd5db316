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
