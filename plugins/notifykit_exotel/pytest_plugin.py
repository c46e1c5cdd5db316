"""pytest fixtures for testing code that talks to Exotel, backed by the local simulator."""

from __future__ import annotations
