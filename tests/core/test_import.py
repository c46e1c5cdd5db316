"""`import notifykit` stays light: HTTP, YAML, Jinja2 and the Exotel plugin load on first use."""

from __future__ import annotations

import subprocess
import sys

import notifykit

HEAVY = ("requests", "yaml", "jinja2", "click", "notifykit_exotel", "phonenumbers", "pluggy")


def test_import_notifykit_imports_nothing_heavy():
    code = (
        "import sys, notifykit\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_notify_api_imports_no_http_templates_cli_or_asyncio():
    # What an application writes at the top of a module: notify() must not drag in the HTTP
    # client, Jinja2, click or asyncio (only anotify() needs it) before the first notification.
    code = (
        "import sys\n"
        "from notifykit import Notifier, NotifyHandler, anotify, notify\n"
        "heavy = ('asyncio', 'requests', 'jinja2', 'click', 'notifykit_exotel')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_public_names_resolve_lazily():
    for name in notifykit.__all__:
        assert getattr(notifykit, name) is not None
    assert notifykit.Notifier.__module__ == "notifykit.notifier"
    assert "NotifyHandler" in dir(notifykit)


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        notifykit.nope  # noqa: B018
