"""``notifykit plugins`` and ``notifykit status``: what the loaded plugins provide, and a provider
asked for the status of a message it was given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import click

from notifykit.cli.common import (
    EXIT_USAGE,
    Failure,
    NotifykitGroup,
    State,
    command,
    plugin_registry,
)
from notifykit.cli.output import Result, mapping_lines

if TYPE_CHECKING:
    from notifykit.plugins import PluginInfo, Registry

__all__ = ["COMMANDS", "plugins", "status"]


@command()
def plugins() -> Result:
    """List loaded plugins: versions, hooks, channel types, providers and commands."""
    registry = plugin_registry()
    infos = registry.plugin_infos()
    commands = _plugin_commands()
    loaded = {
        "plugins": [{**i.to_dict(), "commands": sorted(commands.get(i.name, {}))} for i in infos],
        "blocked": registry.blocked(),
        "channel_types": {
            name: {
                "plugin": registry.owners[("channel_type", name)],
                "kind": ct.kind,
                "template": ct.template_suffix,
                "provider": ct.provider,
                "description": ct.description,
            }
            for name, ct in sorted(registry.channel_types.items())
        },
    }
    return Result(loaded, _plugins_text(registry, infos, commands))


def _plugin_commands() -> dict[str, dict[str, click.Command]]:
    """The commands each plugin added to ``notifykit``: plugin -> name -> command."""
    root = click.get_current_context().find_root().command
    by_plugin: dict[str, dict[str, click.Command]] = {}
    if isinstance(root, NotifykitGroup):
        for name, (owner, cmd) in root.plugin_commands().items():
            by_plugin.setdefault(owner, {})[name] = cmd
    return by_plugin


def _plugins_text(
    registry: Registry,
    infos: Sequence[PluginInfo],
    commands: dict[str, dict[str, click.Command]],
) -> Iterator[str]:
    from notifykit.plugins import known_plugin_names

    for info in infos:
        version = f" {info.version}" if info.version else ""
        package = f" ({info.package}{version})" if info.package else ""
        yield click.style(info.name, bold=True) + package
        yield f"  hooks: {', '.join(info.hooks) or '-'}"
        for name in info.channel_types:
            ct = registry.channel_types[name]
            yield f"  channel type {name}: {ct.description}"
        for name in info.providers:
            yield f"  provider {name}: {registry.providers[name].description}"
        for name, cmd in sorted(commands.get(info.name, {}).items()):
            yield f"  command {name}: {cmd.get_short_help_str(60)}"
    known = known_plugin_names()
    for name in registry.blocked():
        why = "blocked by" if name in known else "named in"
        note = "" if name in known else ", but matches no plugin"
        yield click.style(name, bold=True) + f" ({why} NOTIFYKIT_DISABLE_PLUGINS{note})"


@command()
@click.argument("sid")
@click.option("--account", "-a", metavar="A", help="Account name (default: the only one).")
@click.option("--kind", metavar="KIND", help="What the id is (sms, call...; default: try each).")
def status(sid: str, account: str | None, kind: str | None) -> Result:
    """Look up the status of an SMS or a call by its provider id (SID)."""
    notifier = State.current().notifier()
    accounts = notifier.config.accounts
    if account is None:
        if len(accounts) != 1:
            names = ", ".join(accounts) or "none"
            raise click.UsageError(f"pick the account with --account ({names})")
        account = next(iter(accounts))
    elif account not in accounts:
        raise click.UsageError(f"no account named {account!r} ({', '.join(accounts) or 'none'})")
    provider = notifier.registry.providers[accounts[account].provider]
    if provider.lookup is None:
        raise Failure(f"provider {provider.name!r} cannot look up statuses", EXIT_USAGE)
    result = provider.lookup(notifier.client(account), sid, kind)
    return Result(dict(result), mapping_lines(result))


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (plugins, status)
