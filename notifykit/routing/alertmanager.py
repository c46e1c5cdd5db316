"""Prometheus Alertmanager's webhook payload (version 4), read into :class:`Alert` objects.

Alertmanager POSTs ``{"version": "4", "groupKey", "truncatedAlerts", "status", "receiver",
"groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts": [...]}``, each alert
``{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}``. Each
alert becomes an :class:`Alert`:

* ``labels`` -> labels (``alertname`` stays a label too, so Alertmanager-style matchers work);
* ``alertname`` -> the event;
* a ``severity`` label naming one of ours (case-insensitively, or through ``severity_map``) -> the
  severity, else ``default_severity``; an unrecognised value is kept as the label
  ``alert_severity`` (``severity`` itself is the alert's own label), and an ``event`` label as
  ``alert_event``;
* annotations -> data, with ``generatorURL``, ``startsAt``, ``endsAt``, ``fingerprint`` and
  ``externalURL`` added under ``alertmanager``;
* ``fingerprint`` + ``startsAt`` (+ ``:resolved``) -> the idempotency key, so Alertmanager's
  retries of one webhook are processed once;
* ``status: resolved`` -> ``resolved=True``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifykit.model import SEVERITIES
from notifykit.routing.alert import Alert

__all__ = ["AlertmanagerPayloadError", "WebhookPayload", "parse_webhook"]

#: bodies larger than this are refused before parsing (Alertmanager's own max_alerts keeps
#: real ones far smaller)
MAX_BODY_BYTES = 4 * 1024 * 1024
_STATUSES = ("firing", "resolved")


class AlertmanagerPayloadError(ValueError):
    """The body is not a valid Alertmanager webhook payload (version 4); the message names the
    field and what was expected."""


@dataclass(frozen=True)
class WebhookPayload:
    """A validated payload: its group fields and the alerts it carries."""

    status: str
    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...]


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertmanagerPayloadError(f"{where} must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise AlertmanagerPayloadError(
                f"{where}.{key} must be a string, got {type(item).__name__}"
            )
    return dict(value)


def _string(obj: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise AlertmanagerPayloadError(f"{where}.{key} is missing")
        return ""
    if not isinstance(value, str):
        raise AlertmanagerPayloadError(
            f"{where}.{key} must be a string, got {type(value).__name__}"
        )
    return value


def _timestamp(value: str, where: str) -> datetime:
    # RFC 3339; Python before 3.11 does not read a trailing Z or nanoseconds, Go writes both.
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise AlertmanagerPayloadError(f"{where} is not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise AlertmanagerPayloadError(f"{where} has no time zone offset: {value!r}")
    return parsed


def parse_webhook(
    body: bytes | str | Mapping[str, Any],
    *,
    default_severity: str = "warning",
    severity_map: Mapping[str, str] | None = None,
) -> WebhookPayload:
    """Validate an Alertmanager webhook body and turn each of its alerts into an :class:`Alert`.

    :param default_severity: for alerts whose ``severity`` label names none of ours.
    :param severity_map: more ``severity`` label values (lower case) to ours, e.g.
        ``{"page": "critical", "ticket": "warning"}``.
    :raises AlertmanagerPayloadError: not JSON, not version 4, or a field of the wrong type.
    """
    if default_severity not in SEVERITIES:
        raise ValueError(f"default_severity must be one of {', '.join(SEVERITIES)}")
    mapping = {k.lower(): v for k, v in (severity_map or {}).items()}
    for value in mapping.values():
        if value not in SEVERITIES:
            raise ValueError(f"severity_map values must be one of {', '.join(SEVERITIES)}")
    if isinstance(body, (bytes, str)):
        if len(body) > MAX_BODY_BYTES:
            raise AlertmanagerPayloadError(
                f"the body is larger than {MAX_BODY_BYTES} bytes; lower max_alerts in "
                "Alertmanager's webhook_config"
            )
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise AlertmanagerPayloadError(f"the body is not JSON: {err}") from None
    else:
        data = dict(body)
    if not isinstance(data, dict):
        raise AlertmanagerPayloadError("the body must be a JSON object")
    version = data.get("version")
    if version != "4":
        raise AlertmanagerPayloadError(
            f'version is {version!r}, expected "4" (Alertmanager\'s webhook payload version 4; '
            "point a webhook_config at this URL)"
        )
    status = _string(data, "status", "payload", required=True)
    if status not in _STATUSES:
        raise AlertmanagerPayloadError(f"status must be firing or resolved, got {status!r}")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise AlertmanagerPayloadError("alerts must be a list")
    external_url = _string(data, "externalURL", "payload")
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise AlertmanagerPayloadError("truncatedAlerts must be a non-negative integer")
    alerts = tuple(
        _alert(item, f"alerts[{i}]", external_url, default_severity, mapping)
        for i, item in enumerate(raw_alerts)
    )
    return WebhookPayload(
        status=status,
        receiver=_string(data, "receiver", "payload"),
        group_key=_string(data, "groupKey", "payload"),
        group_labels=_string_map(data.get("groupLabels"), "groupLabels"),
        common_labels=_string_map(data.get("commonLabels"), "commonLabels"),
        common_annotations=_string_map(data.get("commonAnnotations"), "commonAnnotations"),
        external_url=external_url,
        truncated_alerts=truncated,
        alerts=alerts,
    )


def _alert(
    item: Any,
    where: str,
    external_url: str,
    default_severity: str,
    severity_map: Mapping[str, str],
) -> Alert:
    if not isinstance(item, dict):
        raise AlertmanagerPayloadError(f"{where} must be an object")
    status = _string(item, "status", where, required=True)
    if status not in _STATUSES:
        raise AlertmanagerPayloadError(f"{where}.status must be firing or resolved, got {status!r}")
    labels = _string_map(item.get("labels"), f"{where}.labels")
    annotations = _string_map(item.get("annotations"), f"{where}.annotations")
    event = labels.get("alertname", "").strip()
    if not event:
        raise AlertmanagerPayloadError(f"{where}.labels.alertname is missing or empty")
    starts_at = _string(item, "startsAt", where, required=True)
    _timestamp(starts_at, f"{where}.startsAt")
    ends_at = _string(item, "endsAt", where)
    if ends_at:
        _timestamp(ends_at, f"{where}.endsAt")
    fingerprint = _string(item, "fingerprint", where, required=True)
    if not fingerprint:
        raise AlertmanagerPayloadError(f"{where}.fingerprint is empty")
    raw_severity = labels.pop("severity", None)
    severity = default_severity
    if raw_severity is not None:
        lowered = raw_severity.strip().lower()
        if lowered in SEVERITIES:
            severity = lowered
        elif lowered in severity_map:
            severity = severity_map[lowered]
        else:
            labels["alert_severity"] = raw_severity
    if "event" in labels:  # reserved for the alert's own event (alertname); keep the value
        labels["alert_event"] = labels.pop("event")
    data: dict[str, Any] = dict(annotations)
    data["alertmanager"] = {
        "status": status,
        "fingerprint": fingerprint,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": _string(item, "generatorURL", where),
        "externalURL": external_url,
        "severity": raw_severity,
    }
    resolved = status == "resolved"
    idempotency = f"alertmanager:{fingerprint}:{starts_at}" + (":resolved" if resolved else "")
    try:
        return Alert(
            event=event,
            severity=severity,
            labels=labels,
            data=data,
            resolved=resolved,
            idempotency_key=idempotency,
        )
    except ValueError as err:  # e.g. an empty label name
        raise AlertmanagerPayloadError(f"{where}: {err}") from None
