"""The ``limiter:``, ``dispatch:`` and ``celery:`` sections: what loads, and a clear error (with
the fix) for what does not."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from notifykit.config.loader import Config, load_config
from notifykit.errors import ConfigError
from notifykit.plugins import Registry, get_plugin_manager
from tests.delivery.conftest import write_config


def load(tmp_path: Path, sim: Any, **sections: Any) -> Config:
    registry = Registry.from_manager(get_plugin_manager())
    return load_config(write_config(tmp_path, sim, **sections), registry=registry)


def problems(tmp_path: Path, sim: Any, **sections: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, sim, **sections)
    return str(info.value)


def test_the_sections_load_with_their_defaults(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    config = load(
        tmp_path,
        sim,
        store="postgresql://nk@db.invalid/nk",
        limiter="postgresql",
        dispatch="celery",
        celery={"broker": "amqp://nk:s3cret-broker@rabbit.invalid//", "requeue_after": "5m"},
    )
    scale = config.scaleout
    assert scale.limiter is not None and scale.limiter.kind == "postgresql"
    assert scale.limiter.url == ""  # the ledger's database
    assert scale.dispatch == "celery"
    assert scale.celery.requeue_after == 300.0 and scale.celery.queue == "notifykit"
    # the broker's password is a secret: scrubbed wherever the Notifier scrubs
    assert "s3cret-broker" in config.secrets
    assert "s3cret-broker" not in repr(scale)
    config = load(tmp_path, sim, limiter={"url": "redis://127.0.0.1:6379/0", "margin": 0.05})
    assert config.scaleout.limiter is not None
    assert (config.scaleout.limiter.kind, config.scaleout.limiter.margin) == ("redis", 0.05)
    assert config.scaleout.dispatch == "worker"


def test_limiter_postgresql_needs_a_postgresql_ledger(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    text = problems(tmp_path, sim, limiter="postgresql")
    assert "limiter: postgresql uses the ledger's database" in text
    assert "redis://" in text  # the fix is named


def test_an_unknown_limiter_or_broker_is_refused_with_what_to_write(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    text = problems(tmp_path, sim, limiter="memcached://cache:11211")
    assert "is not a shared limiter notifykit knows" in text and "redis://host:6379/0" in text
    text = problems(tmp_path, sim, celery={"broker": "ftp://x"})
    assert "celery.broker" in text and "amqp://" in text
    text = problems(tmp_path, sim, limiter={"url": "redis://x", "margin": 3})
    assert "fraction" in text


def test_dispatch_celery_needs_a_broker_and_a_shared_ledger(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    text = problems(tmp_path, sim, dispatch="celery")
    assert "dispatch: celery needs a broker" in text
    text = problems(
        tmp_path, sim, dispatch="celery", store=":memory:", celery={"broker": "redis://x"}
    )
    assert "store: :memory:" in text
    assert "dispatch" in problems(tmp_path, sim, dispatch="rabbit")


def test_dispatch_celery_without_celery_installed_says_what_to_install(tmp_path, sim, monkeypatch):
    """Found when the config is loaded (`config check` too), not as an internal error of the
    first submit(): the fix is the extra, under the distribution's own name."""
    monkeypatch.setenv("NK_LEDGER_TOKEN", "t")
    monkeypatch.setitem(sys.modules, "celery", None)  # what an environment without it has
    text = problems(tmp_path, sim, dispatch="celery", celery={"broker": "redis://x"})
    assert "dispatch: celery needs Celery, which is not installed" in text
    assert "pip install 'notifykit-pager[celery]'" in text
