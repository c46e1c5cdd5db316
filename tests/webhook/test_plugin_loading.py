"""The webhook plugin lives in plugins/ beside the Exotel one and loads exactly like a
third-party plugin: its own package, its own entry point, listed for the wheel; loading it
imports neither the channel nor the HTTP layer."""

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
    assert project["project"]["entry-points"]["notifykit"]["webhook"] == "notifykit_webhook.plugin"
    setuptools = project["tool"]["setuptools"]
    assert "notifykit_webhook" in setuptools["packages"]
    assert setuptools["package-dir"]["notifykit_webhook"] == "plugins/notifykit_webhook"
    assert "py.typed" in setuptools["package-data"]["notifykit_webhook"]
    assert (ROOT / "plugins" / "notifykit_webhook" / "py.typed").is_file()


def test_it_is_loaded_through_its_entry_point(pm: pluggy.PluginManager) -> None:
    registry = Registry.from_manager(pm)
    assert registry.owners[("channel_type", "webhook")] == "webhook"
    webhook = registry.channel_types["webhook"]
    assert (webhook.kind, webhook.address, webhook.template_suffix) == ("webhook", "webhook", "sms")
    assert webhook.sandbox is not None
    info = {i.name: i for i in registry.plugin_infos()}["webhook"]
    assert info.package == "notifykit-pager"  # shipped with notifykit, as the Exotel plugin


def test_it_can_be_blocked_like_any_plugin(site: Path) -> None:
    from notifykit.plugins import get_plugin_manager

    registry = Registry.from_manager(get_plugin_manager(disabled=["webhook"]))
    assert "webhook" not in registry.channel_types


def test_loading_it_imports_neither_the_channel_nor_urllib3(site: Path) -> None:
    code = (
        "import sys\n"
        "from notifykit.plugins import Registry, get_plugin_manager\n"
        "registry = Registry.from_manager(get_plugin_manager(disabled=[]))\n"
        "assert 'webhook' in registry.channel_types\n"
        "print(','.join(m for m in ('urllib3', 'notifykit_webhook.channel', 'notifykit.http',"
        " 'notifykit_webhook.fake') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_no_module_of_it_reads_yaml_or_the_converter() -> None:
    import ast

    forbidden = ("yaml", "notifykit.config.schema", "notifykit.config.convert")
    found = []
    for path in sorted((ROOT / "plugins" / "notifykit_webhook").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] == "yaml" or n in forbidden
            ]
    assert found == []
