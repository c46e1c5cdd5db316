"""A webhook channel for notifykit: each delivery POSTed as JSON to a URL, signed, with an
idempotency key, for Slack, Microsoft Teams, Mattermost and receivers of your own.

:mod:`notifykit_webhook.plugin` registers the ``webhook`` channel type (loaded through the
``notifykit`` entry-point group as ``webhook``, like any third-party plugin; block it with
``NOTIFYKIT_DISABLE_PLUGINS=webhook``); :mod:`.settings` declares its keys;
:mod:`.channel` sends and maps every answer to a delivery state; :mod:`.signature` signs a body
and checks a signature; :mod:`.fake` is a local receiver with faults, for tests and
``--sandbox``. See ``docs/plugins/webhook.md``.
"""

from __future__ import annotations

from notifykit_webhook.signature import SIGNATURE_HEADER, sign, verify

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]
