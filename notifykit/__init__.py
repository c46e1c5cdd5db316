"""notifykit: notifications from Python applications, with channels as pluggy plugins.

``import notifykit`` is cheap: the public names below are imported on first use (PEP 562), so an
application that only imports notifykit pays for neither HTTP, YAML nor Jinja2 until it notifies.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_LAZY = {
    "Notifier": "notifykit.notifier",
    "notify": "notifykit.notifier",
    "anotify": "notifykit.notifier",
    "configure": "notifykit.notifier",
    "get_notifier": "notifykit.notifier",
    "reset": "notifykit.notifier",
    "NotifyHandler": "notifykit.handler",
    "hookimpl": "notifykit.hookspecs",
    "hookspec": "notifykit.hookspecs",
    "get_plugin_manager": "notifykit.plugins",
    "Report": "notifykit.model",
    "Delivery": "notifykit.model",
    "Notification": "notifykit.model",
    "SEVERITIES": "notifykit.channels",
    "ChannelType": "notifykit.channels",
    "Provider": "notifykit.channels",
    "Message": "notifykit.channels",
    "Recipient": "notifykit.channels",
    "DeliveryResult": "notifykit.channels",
    "NotifykitError": "notifykit.errors",
    "ConfigError": "notifykit.errors",
    "ConfigProblem": "notifykit.errors",
    "ConfigNotFoundError": "notifykit.errors",
    "TemplateError": "notifykit.errors",
    "TemplateNotFoundError": "notifykit.errors",
    "TemplateRenderError": "notifykit.errors",
    "MessageTooLongError": "notifykit.errors",
    "DltMismatchError": "notifykit.errors",
    "RecipientError": "notifykit.errors",
    "NotificationError": "notifykit.errors",
    "PluginError": "notifykit.errors",
    "LedgerError": "notifykit.errors",
    "LedgerUnavailable": "notifykit.errors",
    "DeliveryState": "notifykit.model",
    "Submission": "notifykit.model",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from notifykit.channels import (
        SEVERITIES as SEVERITIES,
    )
    from notifykit.channels import (
        ChannelType as ChannelType,
    )
    from notifykit.channels import (
        DeliveryResult as DeliveryResult,
    )
    from notifykit.channels import (
        Message as Message,
    )
    from notifykit.channels import (
        Provider as Provider,
    )
    from notifykit.channels import (
        Recipient as Recipient,
    )
    from notifykit.errors import (
        ConfigError as ConfigError,
    )
    from notifykit.errors import (
        ConfigNotFoundError as ConfigNotFoundError,
    )
    from notifykit.errors import (
        ConfigProblem as ConfigProblem,
    )
    from notifykit.errors import (
        DltMismatchError as DltMismatchError,
    )
    from notifykit.errors import (
        LedgerError as LedgerError,
    )
    from notifykit.errors import (
        LedgerUnavailable as LedgerUnavailable,
    )
    from notifykit.errors import (
        MessageTooLongError as MessageTooLongError,
    )
    from notifykit.errors import (
        NotificationError as NotificationError,
    )
    from notifykit.errors import (
        NotifykitError as NotifykitError,
    )
    from notifykit.errors import (
        PluginError as PluginError,
    )
    from notifykit.errors import (
        RecipientError as RecipientError,
    )
    from notifykit.errors import (
        TemplateError as TemplateError,
    )
    from notifykit.errors import (
        TemplateNotFoundError as TemplateNotFoundError,
    )
    from notifykit.errors import (
        TemplateRenderError as TemplateRenderError,
    )
    from notifykit.handler import (
        NotifyHandler as NotifyHandler,
    )
    from notifykit.hookspecs import (
        hookimpl as hookimpl,
    )
    from notifykit.hookspecs import (
        hookspec as hookspec,
    )
    from notifykit.model import (
        Delivery as Delivery,
    )
    from notifykit.model import (
        DeliveryState as DeliveryState,
    )
    from notifykit.model import (
        Notification as Notification,
    )
    from notifykit.model import (
        Report as Report,
    )
    from notifykit.model import (
        Submission as Submission,
    )
    from notifykit.notifier import (
        Notifier as Notifier,
    )
    from notifykit.notifier import (
        anotify as anotify,
    )
    from notifykit.notifier import (
        configure as configure,
    )
    from notifykit.notifier import (
        get_notifier as get_notifier,
    )
    from notifykit.notifier import (
        notify as notify,
    )
    from notifykit.notifier import (
        reset as reset,
    )
    from notifykit.plugins import (
        get_plugin_manager as get_plugin_manager,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'notifykit' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
