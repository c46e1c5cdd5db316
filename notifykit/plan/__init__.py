"""Planning: a notification becomes a :class:`~notifykit.plan.planner.Plan`, frozen and
serialisable delivery jobs computed once, before anything is stored or sent."""

from __future__ import annotations

from notifykit.plan.planner import DeliveryJob, Plan, Planner, new_id

__all__ = ["DeliveryJob", "Plan", "Planner", "new_id"]
