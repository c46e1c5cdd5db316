"""The built-in ``india`` plugin: declares the DLT template keys (``dlt_template_id``,
``dlt_pattern``: :class:`notifykit.india.DltTemplateSettings`) that every Indian SMS provider's
plugin reads, so they mean the same whichever of those plugins is installed or blocked."""

from __future__ import annotations

from collections.abc import Callable

from notifykit.config.settings import Settings
from notifykit.hookspecs import hookimpl
from notifykit.india import DltTemplateSettings

__all__ = ["register_template_settings"]


@hookimpl
def register_template_settings(register: Callable[[type[Settings]], None]) -> None:
    register(DltTemplateSettings)
