"""Twilio's status callbacks (``StatusCallback``), as status updates.

Twilio POSTs ``application/x-www-form-urlencoded`` to the URL a message or call was created
with (Twilio's docs: "Track the message status of outbound messages", "Call resource:
StatusCallback"):

- a message: ``MessageSid``, ``MessageStatus`` (``queued``, ``sending``, ``sent``,
  ``delivered``, ``undelivered``, ``failed``, ``accepted``, ``read``...), ``ErrorCode`` when
  it failed;
- a call: ``CallSid``, ``CallStatus`` (``queued``, ``initiated``, ``ringing``,
  ``in-progress``, ``completed``, ``busy``, ``no-answer``, ``failed``, ``canceled``),
  ``CallDuration`` once it is over.

A message that is ``delivered`` (or ``read``) reached the handset; ``undelivered``/``failed``
did not. A call that is ``completed`` was answered; ``busy``, ``no-answer``, ``failed`` and
``canceled`` were not. Other statuses change nothing. The SID is the provider id the channels
record. The request's signature is not checked here: the status URL carries the batch's
unguessable token, as every channel's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from notifykit.channels import DeliveryState, StatusUpdate

__all__ = ["CALL_STATES", "MESSAGE_STATES", "parse_status_callback"]

MESSAGE_STATES: Mapping[str, DeliveryState | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,
}
CALL_STATES: Mapping[str, DeliveryState | None] = {
    "queued": None,
    "initiated": None,
    "ringing": None,
    "in-progress": None,
    "answered": None,
    "completed": DeliveryState.DELIVERED,
    "busy": DeliveryState.FAILED,
    "no-answer": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,
}
_CALL_WORDS = {
    "busy": "the line was busy",
    "no-answer": "nobody answered",
    "failed": "the call could not be placed",
    "canceled": "the call was cancelled",
}
MAX_CALLBACK = 64 * 1024


def parse_status_callback(body: bytes, content_type: str) -> list[StatusUpdate]:
    """The status update a Twilio status callback carries; :class:`ValueError` for a body that
    is not one."""
    if len(body) > MAX_CALLBACK:
        raise ValueError(f"a Twilio status callback is not {len(body)} bytes long")
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise ValueError("a Twilio status callback is a form (x-www-form-urlencoded)")
    fields = {
        name: values[0]
        for name, values in parse_qs(
            body.decode("utf-8", errors="replace"), keep_blank_values=True
        ).items()
    }
    code = fields.get("ErrorCode", "").strip() or None
    info: dict[str, str] = {}
    if code:
        info["provider_code"] = code
    if fields.get("CallSid") and fields.get("CallStatus") and not fields.get("MessageSid"):
        status = fields["CallStatus"].strip().lower()
        state = CALL_STATES.get(status)
        if fields.get("CallDuration"):
            info["duration"] = fields["CallDuration"]
        if status == "completed":
            info["answered"] = "true"
        detail = None
        if state is DeliveryState.FAILED:
            detail = _CALL_WORDS.get(status, status) + (f" (error {code})" if code else "")
        return [StatusUpdate(fields["CallSid"], state, status, detail, info)]
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        raise ValueError(
            "no Twilio status (MessageSid and MessageStatus, or CallSid and CallStatus)"
        )
    state = MESSAGE_STATES.get(status)
    detail = None
    if state is DeliveryState.FAILED:
        detail = f"{status} (error {code})" if code else status
    return [StatusUpdate(sid, state, status, detail, info)]
