"""The MSG91 plugin lives in plugins/ beside the Exotel one and loads exactly like a third-party
plugin: its own package, its own entry point, listed for the wheel; loading it imports neither
the client, the channel nor the HTTP layer."""

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
    assert project["project"]["entry-points"]["notifykit"]["msg91"] == "notifykit_msg91.plugin"
    setuptools = project["tool"]["setuptools"]
    assert "notifykit_msg91" in setuptools["packages"]
    assert setuptools["package-dir"]["notifykit_msg91"] == "plugins/notifykit_msg91"
    assert "py.typed" in setuptools["package-data"]["notifykit_msg91"]
    assert (ROOT / "plugins" / "notifykit_msg91" / "py.typed").is_file()
    assert "plugins/notifykit_msg91" in project["tool"]["mypy"]["files"]


def test_it_is_loaded_through_its_entry_point(pm: pluggy.PluginManager) -> None:
    registry = Registry.from_manager(pm)
    assert registry.owners[("channel_type", "msg91-sms")] == "msg91"
    assert registry.owners[("provider", "msg91")] == "msg91"
    sms = registry.channel_types["msg91-sms"]
    assert (sms.kind, sms.address, sms.template_suffix, sms.provider) == (
        "sms",
        "phone",
        "sms",
        "msg91",
    )
    assert registry.providers["msg91"].sandbox is not None
    assert registry.owners[("check", "msg91.dlt")] == "msg91"  # doctor's DLT check
    info = {i.name: i for i in registry.plugin_infos()}["msg91"]
    assert info.package == "notifykit-pager"  # shipped with notifykit, as the Exotel plugin


def test_it_can_be_blocked_like_any_plugin(site: Path) -> None:
    from notifykit.plugins import get_plugin_manager

    registry = Registry.from_manager(get_plugin_manager(disabled=["msg91"]))
    assert "msg91-sms" not in registry.channel_types
    assert "msg91" not in registry.providers


def test_loading_it_imports_neither_the_client_nor_urllib3(site: Path) -> None:
    code = (
        "import sys\n"
        "from notifykit.plugins import Registry, get_plugin_manager\n"
        "registry = Registry.from_manager(get_plugin_manager(disabled=[]))\n"
        "assert 'msg91-sms' in registry.channel_types\n"
        "print(','.join(m for m in ('urllib3', 'notifykit_msg91.client', 'notifykit_msg91.channel',"
        " 'notifykit_msg91.fake', 'notifykit.http') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_notifykit_plugins_lists_it(site: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "notifykit", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "msg91" in done.stdout and "msg91-sms" in done.stdout
