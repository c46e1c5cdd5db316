"""``notifykit init [DIR]``: a commented config and example templates, for a start without a clone.

The files come from the package itself (``notifykit/cli/skeleton/``, shipped in the wheel as
package data), so ``pip install notifykit-pager && notifykit init`` is enough: the config passes
``notifykit config check`` (once ``EXOTEL_SID`` and ``EXOTEL_TOKEN`` are set) and runs as it is
with ``--sandbox``. Existing files are never overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import re
import sys
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["CONFIG_NAME", "init_command", "skeleton_files"]

#: the file name ``notifykit`` looks for in the current directory
CONFIG_NAME = "notifykit.yaml"


def skeleton_files() -> list[tuple[str, Traversable]]:
    """Every file ``init`` writes: (path relative to DIR, packaged source), config first."""
    root = files("notifykit.cli") / "skeleton"
    found = [(CONFIG_NAME, root / CONFIG_NAME)]
    templates = root / "templates"
    found.extend(
        (f"templates/{entry.name}", entry)
        for entry in sorted(templates.iterdir(), key=lambda e: e.name)
        if entry.is_file() and entry.name.endswith(".j2")
    )
    return found


def _required_variables(config: Path) -> list[str]:
    """The ``${NAME}`` variables (without a ``:-`` fallback) the written config uses outside
    comments, in order: what the user exports for the real thing (the skeleton's provider
    account's, whichever plugin that is)."""
    names: list[str] = []
    for line in config.read_text(encoding="utf-8").splitlines():
        code = line.split("#", 1)[0]
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", code):
            if name not in names:
                names.append(name)
    return names


@click.command("init")
@click.argument(
    "directory",
    required=False,
    default=".",
    metavar="[DIR]",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_command(directory: Path, force: bool) -> int:
    """Write a commented notifykit.yaml and example templates into DIR (default: here).

    The config runs as it is with --sandbox (a local simulator, no account); set EXOTEL_SID and
    EXOTEL_TOKEN for the real thing. Existing files are left alone unless --force."""
    planned = [(directory / relative, source) for relative, source in skeleton_files()]
    existing = [target for target, _ in planned if target.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing)
        raise click.ClickException(
            f"not overwriting {shown}: move {'them' if len(existing) > 1 else 'it'} away, "
            "or run notifykit init --force to replace them"
        )
    for target, source in planned:
        if target.is_dir():
            raise click.ClickException(f"{target} is a directory; cannot write a file there")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        click.echo(f"wrote {target}")
    config = directory / CONFIG_NAME
    here = directory.resolve() == Path.cwd().resolve()
    option = "" if here else f" --config {config}"
    click.echo(
        "\nNext:\n"
        f"  notifykit --sandbox{option} notify db.down --data host=db1   "
        "# try it on a local simulator\n"
        f"  export {' '.join(f'{name}=...' for name in _required_variables(config))}"
        "   # your account (never in the file)\n"
        f"  notifykit config check{' ' + str(config) if not here else ''}\n"
        f"Edit {config}: recipients, sender ids, ExoPhones and DLT ids are examples."
    )
    return 0
