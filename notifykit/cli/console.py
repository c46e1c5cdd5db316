"""``notifykit console hash-password``: the scrypt hash of a password for ``console.users``
(the web console of ``notifykit serve``; docs/deploy.md, "Web console")."""

from __future__ import annotations

import click

from notifykit.cli.common import group
from notifykit.cli.output import Line, Result

__all__ = ["COMMANDS", "console"]


@group()
def console() -> None:
    """The web console of notifykit serve (at /console/)."""


@console.command("hash-password")
def hash_password() -> Result:
    """Print the hash of a password for console.users.NAME.password.

    The password is read without echo (twice, to catch a typo); only its hash is printed,
    as scrypt$N$r$p$salt$hash with a new random salt. The password itself goes nowhere.
    """
    from notifykit.server.console.auth import hash_password as make_hash

    password = click.prompt(
        "Password", hide_input=True, confirmation_prompt=True, err=True, show_default=False
    )
    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="password")
    hashed = make_hash(password)
    return Result(
        {"password": hashed},
        [hashed, Line("put it in the config: console: {users: {NAME: {password: <that>}}}")],
    )


COMMANDS = (console,)
