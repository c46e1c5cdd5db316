"""The ``notifykit`` command line (also ``python -m notifykit``), assembled in
:mod:`notifykit.cli.app`; exit codes: see :mod:`notifykit.cli.common`."""

from __future__ import annotations

from notifykit.cli.app import cli, main

__all__ = ["cli", "main"]
