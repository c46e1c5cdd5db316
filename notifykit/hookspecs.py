"""The notifykit hook specifications, and the markers plugins use.

A plugin is a module or object with functions decorated by :data:`hookimpl` (``notifykit.hookimpl``)
and named after the specs below. It is loaded from the ``notifykit`` entry-point group, or registered
on a plugin manager directly. Hooks are called with keyword arguments, so an implementation may
accept fewer arguments than its spec. Every hook is documented in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from notifykit.channels import ChannelType, Provider
    from notifykit.checks import Check
    from notifykit.config.settings import Settings
    from notifykit.model import Delivery, DeliveryState, Notification

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("notifykit")
hookimpl = pluggy.HookimplMarker("notifykit")


@hookspec
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    """Register channel types: call ``register(ChannelType(...))`` once per type.

    :param register: takes a :class:`notifykit.channels.ChannelType`. Registering a name twice (in
        one plugin or across plugins) is a :class:`~notifykit.errors.PluginError`.
    """


@hookspec
def register_providers(register: Callable[[Provider], None]) -> None:
    """Register providers of accounts (the ``accounts:`` config section, ``provider: <name>``).

    :param register: takes a :class:`notifykit.channels.Provider`: its account settings class, a
        client factory, and optionally a sandbox factory used by ``--sandbox``.
    """


@hookspec
def register_template_settings(register: Callable[[type[Settings]], None]) -> None:
    """Declare keys a ``templates.<name>`` config entry may have: ``register(SmsTemplateSettings)``,
    a :class:`notifykit.config.settings.Settings` class whose every key has a default (a template
    sets what it needs). Channels get the values as ``message.template_settings.of(cls)``.

    :param register: takes a settings class. Declaring a key another class already declared (in
        one plugin or across plugins) is a :class:`~notifykit.errors.PluginError`.
    """


@hookspec
def register_template_filters(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Add Jinja2 filters to the template environment: ``register("shout", str.upper)``.

    :param register: takes a filter name and the filter function.
    """


@hookspec
def register_template_globals(register: Callable[[str, Any], None]) -> None:
    """Add Jinja2 globals (values or functions) to the template environment.

    :param register: takes a global name and its value.
    """


@hookspec
def register_template_dirs(register: Callable[[str | Path], None]) -> None:
    """Ship templates with a plugin: ``register(Path(__file__).parent / "templates")``.

    Lookup order is the config's template directory, then plugin directories, then notifykit's own
    defaults; so a user's ``db_down.sms.j2`` overrides a plugin's.

    :param register: takes a directory path.
    """


@hookspec
def register_checks(register: Callable[[Check], None]) -> None:
    """Register checks for ``notifykit doctor``: call ``register(Check(...))`` once per check.

    A check reads the config (offline) or asks a provider's API through an account's client
    (``Check(online=True)``, run by ``doctor --online``) and returns
    :class:`~notifykit.checks.Finding` objects, each naming where in the config the problem is
    and how to fix it.

    :param register: takes a :class:`notifykit.checks.Check`. Registering a name twice (in one
        plugin or across plugins) is a :class:`~notifykit.errors.PluginError`.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``notifykit`` command line: ``cli.add_command(my_command)``, or
    ``@cli.command()`` / ``@cli.group()`` on functions defined in the hook.

    Collected when a ``notifykit`` command is first looked up or listed (``--help``), each
    plugin's on its own. The global options (``--config``, ``--json``, ``-v``...) are also
    accepted after a plugin's commands, as after the built-ins, unless a command is marked
    :func:`notifykit.cli.common.pass_through` (its arguments go to another program untouched).

    :param cli: a click group standing for ``notifykit``: what is added to it is added to the
        real one. A command named like a built-in or another plugin's command is a
        :class:`~notifykit.errors.PluginError` naming both.
    """


@hookspec
def register_routes(
    add_route: Callable[..., None],
    notifier: Any,
) -> None:
    """Serve more URLs on ``notifykit serve`` (and any mount of its WSGI app): call
    ``add_route(pattern, handler, methods=("GET", "HEAD"))`` once per route.

    :param add_route: takes a regular expression matched against the whole path (named groups
        become ``request.params``), a ``handler(request) -> Response`` (from
        :mod:`notifykit.server.http`) and the methods it answers; other methods get ``405``.
        notifykit's own routes are matched first, then plugins' in load order. A handler that
        raises :class:`~notifykit.server.http.HTTPProblem` answers with its status.
    :param notifier: the :class:`~notifykit.Notifier` the server runs for (its config, ledger,
        escalations).
    """


@hookspec
def before_delivery(delivery: Delivery, notification: Notification) -> str | None:
    """Observe, or veto, a delivery just before it is sent (and in dry runs).

    Called once per (channel, recipient). Return a non-empty string to veto: the delivery is then
    not sent and is reported as ``skipped`` with that string as its reason. Return ``None`` to let it
    through. Every implementation is called; any veto wins. An exception raised here marks the
    delivery ``failed`` (it is never silently sent or dropped).

    :param delivery: the delivery about to happen, with ``status="pending"``.
    :param notification: the whole notification (event, severity, data, template...).
    """


@hookspec
def after_delivery(delivery: Delivery, notification: Notification) -> None:
    """Observe the result of a delivery attempt (logging, metrics, audit trails).

    Called once per delivery and attempt, after its batch was sent and the outcome recorded in
    the ledger, whatever its state: ``sent``, ``failed``, ``unknown``, ``skipped``, ``pending``
    (rescheduled for a retry; ``delivery.attempts`` says how many were made; in a dry run,
    planned and deliberately not sent). Exceptions raised here are logged on the ``notifykit``
    logger and otherwise ignored: they cannot change the report, nor keep the other
    implementations from being called.

    :param delivery: the final :class:`notifykit.Delivery`.
    :param notification: the whole notification.
    """


@hookspec
def after_status_change(
    delivery: Delivery, previous: DeliveryState, notification: Notification
) -> None:
    """Observe every change of a delivery's state after it was sent: its attempt's outcome
    (``sending`` → ``sent``, ``failed``...), a status callback or a reconcile lookup (``sent`` →
    ``delivered``, ``failed``), or recovery (``sending`` → ``unknown`` after a worker died).

    Not called for ``pending`` → ``sending``, nor for events that change nothing (a duplicate or
    late callback). Exceptions are logged and ignored, as for ``after_delivery``.

    :param delivery: the delivery in its new state (``provider_status`` and ``provider_detail``
        carry the provider's own words).
    :param previous: the state it left.
    :param notification: the notification it belongs to.
    """
