"""The ack page (``/ack/<token>``): what a person on call opens from a step's SMS.

``GET`` names the alert (event, key, severity) and, while its escalation is open, shows one
button (a link previewer fetching the URL must not acknowledge); once it is acknowledged or
resolved the page says so, by whom and when, and shows no button. ``POST`` acknowledges in the
name of the people the link was sent to (the recipients of the step whose message carried it,
read from the ledger), recorded with ``via: link``.

Every answer carries ``Cache-Control: no-store`` (a shared phone or a proxy must not keep the
page), and ``X-Frame-Options: DENY`` with ``Content-Security-Policy: frame-ancestors 'none'``
(no other site may frame the button and trick a click).
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from notifykit.server.http import Request, Response

if TYPE_CHECKING:
    from notifykit.ledger.state import EscalationRecord
    from notifykit.notifier import Notifier

__all__ = ["HEADERS", "AckPage"]

#: the headers of every answer of the ack page
HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
)


class AckPage:
    """``handler(request)`` for ``/ack/<token>`` (see the module docstring)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def __call__(self, request: Request) -> Response:
        token = request.params["token"]
        wants_json = "json" in request.header("Accept")
        link = self.notifier.ack_link(token)
        if link is None:
            if wants_json and request.method == "POST":
                return Response.json(404, {"error": "unknown ack link"}, HEADERS)
            return _page(404, "Unknown or expired link.")
        record = link.escalation
        if request.method in ("GET", "HEAD"):
            if record.state in ("active", "done", "snoozed"):  # a snooze can be ended
                return _page(
                    200,
                    "Acknowledge this alert? Nobody else will be paged for it.",
                    record,
                    button=True,
                )
            return _page(200, _ended(record), record)
        # The pipeline names who acknowledged: the people the link's step was sent to.
        acked = self.notifier.ack_token(token) or []
        by = acked[0].acked_by if acked else None
        if wants_json:
            return Response.json(
                200,
                {"ok": True, "acked": [a.key for a in acked], "acked_by": by},
                HEADERS,
            )
        if acked:
            return _page(200, "Acknowledged. Thank you: nobody else will be paged.", acked[0])
        current = self.notifier.ack_link(token)
        return _page(200, _ended(current.escalation if current else record), record)


def _ended(record: EscalationRecord) -> str:
    """Who ended an escalation and when (or that it is still open)."""
    if record.state == "acked":
        by = f" by {record.acked_by}" if record.acked_by else ""
        how = {
            "link": "ack link",
            "call": "answered call",
            "key": "keypress",
            "keypress": "key pressed on the call",
            "missed-call": "missed call",
            "whatsapp": "WhatsApp button",
        }
        via = f" ({how.get(record.acked_via, record.acked_via)})" if record.acked_via else ""
        return f"Already acknowledged{by}{via} at {_when(record.acked_at)}."
    if record.state == "resolved":
        return f"Already resolved at {_when(record.resolved_at)}."
    return "This alert is still open."


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "an unknown time"
    moment = datetime.fromtimestamp(epoch, timezone.utc).astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname() or moment.strftime('%z')}"


def _page(
    status: int, text: str, record: EscalationRecord | None = None, *, button: bool = False
) -> Response:
    """A tiny HTML page for a phone's browser."""
    about = ""
    if record is not None:
        alert = record.alert
        rows = (("Alert", alert.event), ("Key", record.key), ("Severity", alert.severity))
        about = (
            "<dl>"
            + "".join(f"<dt>{name}</dt><dd>{html.escape(value)}</dd>" for name, value in rows)
            + "</dl>"
        )
    form = (
        '<form method="post"><button style="font-size:1.5em;padding:.5em 1em">'
        "Acknowledge</button></form>"
        if button
        else ""
    )
    body = (
        '<!doctype html><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<title>notifykit</title><body style="font-family:sans-serif;margin:2em">'
        f"{about}<p>{html.escape(text)}</p>{form}</body>"
    )
    return Response.html(status, body, HEADERS)
