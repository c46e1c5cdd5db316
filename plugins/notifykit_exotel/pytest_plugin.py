"""pytest fixtures for testing code that talks to Exotel, backed by the local simulator.

Registered through the ``pytest11`` entry point, so any project that installs notifykit gets:

``exotel_simulator``
    a started :class:`~notifykit_exotel.simulator.ExotelSimulator`, stopped after the test.
``notifykit_notifier``
    a :class:`~notifykit.Notifier` whose Exotel accounts all point at that test's simulator, also
    installed as the default behind the module-level ``notifykit.notify()``. The default is reset
    (:func:`notifykit.reset`) before and after the test, so no test ever reaches the simulator of
    an earlier one (whose port is gone: the request would time out or hit another server).
``notifykit_config``
    what ``notifykit_notifier`` is built from: a config file path or a mapping shaped like the
    YAML. Override it in a conftest or test module; the default (``None``) is a minimal config
    with an ``sms`` and a ``call`` channel and one recipient, ``tester`` (+919876543210). A test
    may also pick its own with ``@pytest.mark.notifykit_config(path_or_mapping)``.

Account secrets need not be set: like ``--sandbox``, the simulator's credentials replace them.
The simulator and notifykit are imported inside the fixtures, so pytest's start-up stays free of
them for test runs that never use them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from notifykit.notifier import Notifier
    from notifykit_exotel.simulator import ExotelSimulator

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | None


def minimal_config() -> dict[str, Any]:
    """The config ``notifykit_notifier`` uses when the test gives none. Its account has no
    credentials: the fixture points it at the simulator."""
    return {
        "version": 1,
        "defaults": {"severity": "warning", "channels": ["sms"], "to": ["tester"]},
        "accounts": {"exotel": {"provider": "exotel"}},
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "exotel",
                "senders": {"default": {"from": "NKTEST"}},
            },
            "call": {
                "type": "exotel-call",
                "account": "exotel",
                "caller_id": "08088919888",
                "connect_to": "+919800000000",
            },
        },
        "recipients": {"tester": {"phone": "+919876543210"}},
    }


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "notifykit_config(source): the config (file path or mapping) notifykit_notifier is "
        "built from in this test",
    )


@pytest.fixture
def exotel_simulator() -> Iterator[ExotelSimulator]:
    """A started Exotel simulator with the default credentials (sid ``ACsim``, token
    ``sim-token``, key = sid), stopped after the test."""
    from notifykit_exotel.simulator import ExotelSimulator

    with ExotelSimulator() as simulator:
        yield simulator


@pytest.fixture
def notifykit_config() -> ConfigSource:
    """The config ``notifykit_notifier`` is built from: override this fixture to return a file
    path or a mapping. ``None`` (the default) means :func:`minimal_config`."""
    return None


@pytest.fixture
def notifykit_notifier(
    request: pytest.FixtureRequest,
    notifykit_config: ConfigSource,
    exotel_simulator: ExotelSimulator,
) -> Iterator[Notifier]:
    """A Notifier wired to this test's ``exotel_simulator`` and installed as the default of
    ``notifykit.notify()``; closed, and the default reset, after the test."""
    import notifykit

    marker = request.node.get_closest_marker("notifykit_config")
    source = marker.args[0] if marker is not None and marker.args else notifykit_config
    notifier = notifier_for_simulator(
        minimal_config() if source is None else source, exotel_simulator
    )
    notifykit.reset()  # a default cached by an earlier test points at a dead simulator
    notifykit.configure(notifier)
    try:
        yield notifier
    finally:
        notifykit.reset()  # closes the notifier too


def notifier_for_simulator(
    source: str | os.PathLike[str] | Mapping[str, Any], simulator: ExotelSimulator
) -> Notifier:
    """A Notifier built from ``source`` whose ``exotel`` accounts all use ``simulator``'s address
    and credentials (the ones in the config, and their ``${ENV}`` variables, need not be set)."""
    from notifykit.config.loader import load_config
    from notifykit.notifier import Notifier
    from notifykit.plugins import Registry, get_plugin_manager

    registry = Registry.from_manager(get_plugin_manager())
    # sandbox=True: the keys the simulator replaces (sid, token, api_key, base_url) may be unset.
    config = load_config(source, registry=registry, sandbox=True)
    settings = {
        "sid": simulator.sid,
        "token": simulator.token,
        "api_key": simulator.api_key,
        "base_url": simulator.base_url,
    }
    overrides = {
        name: settings for name, account in config.accounts.items() if account.provider == "exotel"
    }
    return Notifier(config, registry, account_overrides=overrides, extra_secrets=[simulator.token])
