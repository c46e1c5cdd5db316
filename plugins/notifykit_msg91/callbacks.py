"""MSG91's SMS delivery reports, as status updates.

MSG91 posts them to one webhook URL per account, set in its panel, in the version chosen there
(MSG91's help page on delivery-report webhooks):

- **v2**: ``application/x-www-form-urlencoded``, one field ``data`` holding a JSON array of
  ``{"requestId", "senderId", "report": [{"number", "status", "desc", "date",
  "failedReason"...}]}``;
- **v3**: ``application/json``, one object ``{"requestId", "number", "status", "desc",
  "date"...}`` per number (a JSON array of them is read too).

``status``: 1 delivered, 2 failed, 9 NDNC (promotional SMS to a number on the do-not-call
registry), 16 and 25 rejected, 17 a blocked number; other values change nothing. The request
id is the provider id :class:`~notifykit_msg91.channel.Msg91SmsChannel` records (one request
per recipient, so one report per delivery).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from notifykit.channels import DeliveryState, StatusUpdate

__all__ = ["STATES", "parse_delivery_report"]

#: MSG91's report ``status`` -> the delivery state it proves
STATES: Mapping[str, DeliveryState] = {
    "1": DeliveryState.DELIVERED,
    "2": DeliveryState.FAILED,
    "9": DeliveryState.FAILED,
    "16": DeliveryState.FAILED,
    "25": DeliveryState.FAILED,
    "17": DeliveryState.FAILED,
}
_WORDS = {"9": "NDNC", "16": "rejected", "25": "rejected", "17": "blocked number"}
MAX_REPORT = 256 * 1024


def parse_delivery_report(body: bytes, content_type: str) -> list[StatusUpdate]:
    """The status updates an MSG91 delivery report carries; :class:`ValueError` for a body
    that is not one."""
    if len(body) > MAX_REPORT:
        raise ValueError(f"an MSG91 delivery report is not {len(body)} bytes long")
    text = body.decode("utf-8", errors="replace")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields = parse_qs(text, keep_blank_values=True)
        if "data" not in fields:
            raise ValueError("an MSG91 delivery report (v2) has a 'data' field; this has none")
        text = fields["data"][0]
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("an MSG91 delivery report is JSON; this is not") from None
    updates = list(_updates(found))
    if not updates:
        raise ValueError("no MSG91 delivery report (requestId and status) in this body")
    return updates


def _updates(found: Any) -> Iterator[StatusUpdate]:
    items = found if isinstance(found, list) else [found]
    for item in items:
        if not isinstance(item, dict):
            continue
        request_id = item.get("requestId")
        if not isinstance(request_id, (str, int)) or not str(request_id):
            continue
        reports = item.get("report")
        if isinstance(reports, list):  # v2: the reports of one request
            for report in reports:
                if isinstance(report, dict):
                    yield _update(str(request_id), report)
        elif "status" in item:  # v3: one number's report
            yield _update(str(request_id), item)


def _update(request_id: str, report: Mapping[str, Any]) -> StatusUpdate:
    status = str(report.get("status") or "").strip()
    desc = str(report.get("desc") or report.get("description") or "").strip() or None
    reason = str(report.get("failedReason") or "").strip() or None
    state = STATES.get(status)
    detail = None
    if state is DeliveryState.FAILED:
        detail = reason or desc or _WORDS.get(status) or f"status {status}"
    info = {"number": str(report["number"])} if report.get("number") else {}
    return StatusUpdate(
        provider_id=request_id,
        state=state,
        provider_status=desc or status or None,
        detail=detail,
        info=info,
    )
