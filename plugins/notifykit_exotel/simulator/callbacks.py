"""Sending status callbacks the way Exotel does: form-encoded, multipart or JSON POSTs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import requests

from .models import CallbackAttempt
from .state import PendingCallback

#: Exotel expects receivers to answer quickly; a test receiver that hangs should not hang tests.
CALLBACK_TIMEOUT = 5.0


def _form_value(value: Any) -> str:
    # Form bodies cannot carry null: Exotel sends an empty value instead.
    if value is None:
        return ""
    return str(value)


def flatten(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Form fields with ``Legs`` flattened to ``Legs[0][Status]``-style keys, as Exotel sends."""
    pairs: list[tuple[str, str]] = []
    for key, value in fields.items():
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    pairs.extend(
                        (f"{key}[{index}][{sub}]", _form_value(v)) for sub, v in item.items()
                    )
                else:
                    pairs.append((f"{key}[{index}]", _form_value(item)))
        else:
            pairs.append((key, _form_value(value)))
    return pairs


def encode(media_type: str, fields: dict[str, Any]) -> tuple[str, bytes]:
    """Encode the callback fields; returns the full Content-Type header and the body."""
    if media_type == "application/json":
        return "application/json", json.dumps(fields).encode("utf-8")
    if media_type == "multipart/form-data":
        # Let requests build the multipart body so the boundary handling is the standard one.
        prepared = requests.Request(
            "POST",
            "http://callback.invalid/",
            files=[(key, (None, value)) for key, value in flatten(fields)],
        ).prepare()
        body = prepared.body
        assert isinstance(body, bytes)
        return prepared.headers["Content-Type"], body
    return "application/x-www-form-urlencoded", urlencode(flatten(fields)).encode("utf-8")


def send(callback: PendingCallback, timeout: float = CALLBACK_TIMEOUT) -> CallbackAttempt:
    """POST one callback and record the attempt; never raises for a receiver that fails."""
    content_type, body = encode(callback.media_type, callback.fields)
    status: int | None = None
    error: str | None = None
    try:
        with requests.Session() as session:
            # Callbacks go to local receivers: an HTTP_PROXY in the environment must not apply.
            session.trust_env = False
            response = session.post(
                callback.url,
                data=body,
                headers={"Content-Type": content_type, "User-Agent": "Exotel-Simulator"},
                timeout=timeout,
            )
            status = response.status_code
            response.close()
    except requests.RequestException as err:
        error = f"{type(err).__name__}: {err}"
    return CallbackAttempt(
        url=callback.url,
        content_type=content_type,
        body=body,
        fields=callback.fields,
        status=status,
        kind=callback.kind,
        sid=callback.sid,
        error=error,
    )
