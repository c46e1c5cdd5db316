"""The Exotel plugin's commands, added to ``notifykit`` through the ``register_commands`` hook
(:mod:`notifykit_exotel.plugin` imports this module only then): ``notifykit simulator``, the
local Exotel simulator in the foreground, and ``notifykit flows``, the URLs to paste into
Exotel's applets. It imports the simulator when run (only this command
needs the server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import click

from notifykit.cli.common import EXIT_USAGE, Failure, State, command, pass_through
from notifykit_exotel.flows_cli import flows

__all__ = ["COMMANDS", "flows", "simulator"]


@pass_through
@command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulator(args: tuple[str, ...]) -> int:
    """Run the local Exotel simulator in the foreground (python -m notifykit_exotel.simulator);
    every argument is its own: notifykit simulator --help lists them. `notifykit simulator press
    NUMBER KEYS`, `missed-call FROM EXOPHONE`, `incoming-call FROM EXOPHONE` and `flow SID` steer
    one already running (--url, default http://127.0.0.1:4041)."""
    run = _simulator_main()
    # The simulator sets up its own logging (a line per request); the CLI's handlers would
    # swallow it.
    State.current().logs.restore()
    try:
        code = run(list(args))
    except SystemExit as err:  # argparse: --help (0) or a usage error (2)
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    # argparse's (and the simulator's) usage errors exit 2, which here means something else.
    return EXIT_USAGE if code == 2 else int(code or 0)


def _simulator_main() -> Callable[[list[str]], int | None]:
    """The simulator's ``main(argv)``: from its package once it exports one, else its
    ``__main__`` module. Imported here, not at start-up: only this command needs the server."""
    try:
        from notifykit_exotel import simulator as package
    except ImportError as err:  # a dependency of the server missing
        raise Failure(f"the Exotel simulator cannot start ({err})", EXIT_USAGE) from None
    run = getattr(package, "main", None)
    if not callable(run):
        import importlib

        run = importlib.import_module("notifykit_exotel.simulator.__main__").main
    return cast("Callable[[list[str]], int | None]", run)


#: what this module adds to the ``notifykit`` group (through ``register_commands``):
#: ``notifykit flows`` prints the URLs of Exotel's applets (:mod:`notifykit_exotel.flows_cli`)
COMMANDS = (simulator, flows)
