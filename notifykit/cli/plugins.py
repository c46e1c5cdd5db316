"""``notifykit plugins`` and ``notifykit status``: what the loaded plugins provide, and a provider
asked for the status of a message it was given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from notifykit.cli.common import EXIT_OK, EXIT_USAGE, Failure, State, command, plugin_registry

__all__ = ["COMMANDS", "plugins", "status"]


@command()
def plugins() -> int:
    """List loaded plugins: versions, hooks, channel types and providers."""
    from notifykit.plugins import known_plugin_names

    state = State.current()
    registry = plugin_registry()
    infos = registry.plugin_infos()
    if state.json:
        state.output(
            {
                "plugins": [i.to_dict() for i in infos],
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
        )
        return EXIT_OK
    for info in infos:
        version = f" {info.version}" if info.version else ""
        package = f" ({info.package}{version})" if info.package else ""
        click.echo(click.style(info.name, bold=True) + package)
        click.echo(f"  hooks: {', '.join(info.hooks) or '-'}")
        for name in info.channel_types:
            ct = registry.channel_types[name]
            click.echo(f"  channel type {name}: {ct.description}")
        for name in info.providers:
            click.echo(f"  provider {name}: {registry.providers[name].description}")
    known = known_plugin_names()
    for name in registry.blocked():
        why = "blocked by" if name in known else "named in"
        note = "" if name in known else ", but matches no plugin"
        click.echo(click.style(name, bold=True) + f" ({why} NOTIFYKIT_DISABLE_PLUGINS{note})")
    return EXIT_OK


@command()
@click.argument("sid")
@click.option("--account", "-a", metavar="A", help="Account name (default: the only one).")
@click.option("--kind", metavar="KIND", help="What the id is (sms, call...; default: try each).")
def status(sid: str, account: str | None, kind: str | None) -> int:
    """Look up the status of an SMS or a call by its provider id (SID)."""
    state = State.current()
    notifier = state.notifier()
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
    if state.json:
        state.output(dict(result))
    else:
        _print_mapping(result)
    return EXIT_OK


def _print_mapping(result: Mapping[str, Any]) -> None:
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        if value is None:
            continue
        click.echo(f"{key.ljust(width)}  {value}")


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (plugins, status)
