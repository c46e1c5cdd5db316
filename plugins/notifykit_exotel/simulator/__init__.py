"""A local HTTP server that behaves like Exotel's v1 API, for tests and demos."""

from __future__ import annotations
