"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed: no per-example deadline and no "too slow" health
# check, which fail on a loaded machine (a cold first example can take longer than 200 ms).
settings.register_profile("notifykit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("notifykit")
