"""The ``notifykit`` command line (also ``python -m notifykit``); see :mod:`notifykit.cli.main`."""

from __future__ import annotations

from notifykit.cli.main import cli, main

__all__ = ["cli", "main"]
