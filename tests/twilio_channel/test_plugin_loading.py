"""The Twilio plugin lives in plugins/ beside the Exotel one and loads exactly like a
third-party plugin: its own package and entry point, listed for the wheel, its ``twilio``
extra; loading it imports neither the ``twilio`` package nor the HTTP layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pluggy
import tomllib

from notifykit.plugins import Registry

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_ships_it_as_a_plugin_of_its_own() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["notifykit"]["twilio"] == "notifykit_twilio.plugin"
    extras = project["project"]["optional-dependencies"]
    assert any(d.startswith("twilio") for d in extras["twilio"])
    assert any(d.startswith("twilio") for d in extras["test"])
    setuptools = project["tool"]["setuptools"]
    assert "notifykit_twilio" in setuptools["packages"]
    assert setuptools["package-dir"]["notifykit_twilio"] == "plugins/notifykit_twilio"
    assert "py.typed" in setuptools["package-data"]["notifykit_twilio"]
    assert (ROOT / "plugins" / "notifykit_twilio" / "py.typed").is_file()
    assert "plugins/notifykit_twilio" in project["tool"]["mypy"]["files"]


def test_it_is_loaded_through_its_entry_point(pm: pluggy.PluginManager) -> None:
    registry = Registry.from_manager(pm)
    assert registry.owners[("provider", "twilio")] == "twilio"
    sms = registry.channel_types["twilio-sms"]
    call = registry.channel_types["twilio-call"]
    assert (sms.kind, sms.template_suffix, sms.provider) == ("sms", "sms", "twilio")
    assert (call.kind, call.template_suffix, call.provider) == ("call", "voice", "twilio")
    assert registry.owners[("channel_type", "twilio-call")] == "twilio"
    assert registry.providers["twilio"].sandbox is not None
    assert registry.owners[("check", "twilio.config")] == "twilio"  # doctor's config check
    info = {i.name: i for i in registry.plugin_infos()}["twilio"]
    assert info.package == "notifykit-pager"
    assert "register_routes" in pm.get_plugin("twilio").__dict__


def test_it_can_be_blocked_like_any_plugin(site: Path) -> None:
    from notifykit.plugins import get_plugin_manager

    registry = Registry.from_manager(get_plugin_manager(disabled=["twilio"]))
    assert "twilio-sms" not in registry.channel_types
    assert "twilio" not in registry.providers


def test_loading_it_imports_neither_twilio_nor_urllib3(site: Path) -> None:
    code = (
        "import sys\n"
        "from notifykit.plugins import Registry, get_plugin_manager\n"
        "registry = Registry.from_manager(get_plugin_manager(disabled=[]))\n"
        "assert 'twilio-call' in registry.channel_types\n"
        "loaded = [m for m in ('twilio', 'urllib3', 'notifykit_twilio.client') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
