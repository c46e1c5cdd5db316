"""The Exotel plugin registers its hooks without importing the HTTP client."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_plugin_does_not_import_the_client():
    code = (
        "import sys\n"
        "from notifykit.plugins import Registry, get_plugin_manager\n"
        "registry = Registry.from_manager(get_plugin_manager(disabled=[]))\n"
        "assert 'exotel-sms' in registry.channel_types\n"
        "print(','.join(m for m in ('requests', 'notifykit_exotel.client', 'jinja2') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_building_a_channel_imports_the_client():
    code = (
        "import sys\n"
        "from notifykit import Notifier\n"
        "kit = Notifier.from_config({'accounts': {'a': {'provider': 'exotel', 'sid': 'AC1', "
        "'token': 'tok1'}}, 'channels': {'c': {'type': 'exotel-call', 'account': 'a', "
        "'caller_id': '08088919888', 'connect_to': '+919800000000'}}})\n"
        "print('notifykit_exotel.client' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


def test_the_plugin_declares_its_settings_without_yaml_nodes():
    # Its settings are Settings classes and its validator takes a Python value: no module of the
    # plugin imports YAML, the YAML layer (notifykit.config.schema) or the converter.
    import ast
    from pathlib import Path

    import notifykit_exotel

    package = Path(notifykit_exotel.__file__).parent
    forbidden = ("yaml", "notifykit.config.schema", "notifykit.config.convert")
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.name}: {name}"
                for name in names
                if any(name == f or name.startswith(f + ".") for f in forbidden)
            ]
    assert found == []
