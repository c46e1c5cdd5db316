"""Helpers shared by the simulator's test modules (imported as ``tests.simulator.support``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

SessionFactory = Callable[..., requests.Session]
SID = "ACsim"
TOKEN = "sim-token"


def call_form(**overrides: str | None) -> dict[str, str]:
    """A valid number-masking connect form; an override of None leaves the field out."""
    form: dict[str, str | None] = {
        "From": "+919876543210",
        "To": "+919812345678",
        "CallerId": "08047112345",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def rest_error(response: requests.Response) -> dict[str, Any]:
    """The RestException object of an error answer."""
    inner: dict[str, Any] = response.json()["RestException"]
    return inner
