"""Expected-activity schedules ("mon-fri 08-18", UTC) and how much active time an interval holds."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

WEEK = 7 * 86400
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# 1970-01-01 was a Thursday: hour-of-week 0 (Monday 00:00) is offset by 3 days.
_EPOCH_OFFSET = 3 * 86400


class ScheduleError(ValueError):
    code = "bad_schedule"


def parse_schedule(text: str) -> npt.NDArray[np.bool_]:
    """168 booleans (Monday 00-01 UTC first). "" = always; "mon-fri 08-18"; several joined by ','."""
    text = text.strip().lower()
    week = np.zeros(168, dtype=bool)
    if not text or text in ("always", "*", "24/7"):
        week[:] = True
        return week
    for part in text.split(","):
        tokens = part.split()
        if len(tokens) == 1 and "-" in tokens[0] and tokens[0][0].isdigit():
            tokens = ["mon-sun", tokens[0]]
        if len(tokens) != 2:
            raise ScheduleError(f"schedule part {part.strip()!r}: expected 'DAYS HH-HH', e.g. 'mon-fri 08-18'")
        days = _days(tokens[0])
        try:
            h_from, h_to = (int(x) for x in tokens[1].split("-"))
        except ValueError:
            raise ScheduleError(f"schedule hours {tokens[1]!r}: expected HH-HH") from None
        if not (0 <= h_from < h_to <= 24):
            raise ScheduleError(f"schedule hours {tokens[1]!r} out of range")
        for d in days:
            week[d * 24 + h_from : d * 24 + h_to] = True
    return week


def _days(spec: str) -> list[int]:
    if "-" in spec:
        a, b = spec.split("-")
        if a not in _DAYS or b not in _DAYS:
            raise ScheduleError(f"schedule days {spec!r}: use mon..sun")
        i, j = _DAYS.index(a), _DAYS.index(b)
        return list(range(i, j + 1)) if i <= j else list(range(i, 7)) + list(range(0, j + 1))
    if spec not in _DAYS:
        raise ScheduleError(f"schedule day {spec!r}: use mon..sun")
    return [_DAYS.index(spec)]


def active_seconds_before(week: npt.NDArray[np.bool_], t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Active seconds from the epoch's Monday to t: F(b) - F(a) is the active time in [a, b]."""
    cum = np.concatenate([[0], np.cumsum(week.astype(np.int64) * 3600)])
    per_week = int(cum[-1])
    s = t + _EPOCH_OFFSET
    weeks, rest = np.divmod(s, WEEK)
    hour = rest // 3600
    within = rest - hour * 3600
    result: npt.NDArray[np.int64] = weeks * per_week + cum[hour] + week[hour] * within
    return result
