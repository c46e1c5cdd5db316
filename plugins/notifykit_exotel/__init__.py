"""Exotel for notifykit: a complete v1 API client, a local simulator and the notifykit channels."""

from __future__ import annotations
