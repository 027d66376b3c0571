"""Whether a reading fits its meter's previous one: not below it, and not more than the meter's
nominal flow Q3 running the whole time since allows. Pure; the walk screen, the route export and the
readings tenants report say the outcome in their own words."""

from __future__ import annotations

SLACK_M3 = 0.001  # a reading may lie below the previous one by a litre (rounding)


def beyond(previous: float, previous_at: int | None, total: float, at: int | None, q3_m3h: float | None,
           above_slack_m3: float = 0.0) -> tuple[str, float] | None:  # fmt: skip
    """("below", previous) or ("above_q3", the most Q3 allows), or None when the reading fits. Without
    a previous time, a time or a Q3 only "below" is looked at."""
    if total < previous - SLACK_M3:
        return "below", previous
    if previous_at is not None and at is not None and q3_m3h:
        most = previous + q3_m3h * max(0.0, (at - previous_at) / 3600)
        if total > most + above_slack_m3:
            return "above_q3", most
    return None
