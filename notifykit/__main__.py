"""``python -m notifykit``: the same as the ``notifykit`` command."""

from __future__ import annotations

from notifykit.cli import main

if __name__ == "__main__":
    main()
