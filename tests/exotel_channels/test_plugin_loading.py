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
