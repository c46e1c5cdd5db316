"""The ``notifykit`` command assembled, in one place: every command module's commands registered
on the one :data:`~notifykit.cli.common.cli` group, then the global options added after each
command; and the console-script entry point. The plugins' commands (``register_commands``) join
them when a command is first looked up (see :class:`~notifykit.cli.common.NotifykitGroup`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import click

from notifykit.cli import config, console, delivery, doctor, oncall, plugins, routing, send
from notifykit.cli.common import add_global_options, cli
from notifykit.cli.heartbeats import COMMANDS as HEARTBEAT_COMMANDS
from notifykit.cli.scaffold import init_command
from notifykit.cli.silences import COMMANDS as SILENCE_COMMANDS

__all__ = ["COMMANDS", "cli", "main"]

#: every built-in command, by family (``notifykit --help`` lists them by name)
COMMANDS: tuple[click.Command, ...] = (
    *send.COMMANDS,
    *config.COMMANDS,
    *plugins.COMMANDS,
    *delivery.COMMANDS,
    *routing.COMMANDS,
    *doctor.COMMANDS,
    *oncall.COMMANDS,
    *SILENCE_COMMANDS,
    *console.COMMANDS,
    *HEARTBEAT_COMMANDS,
    init_command,
)

for _command in COMMANDS:
    cli.add_command(_command)
add_global_options(cli)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="notifykit")
    raise AssertionError("unreachable")  # pragma: no cover
