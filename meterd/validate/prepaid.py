"""Prepaid meters: reconciling the credit sold (the top-up ledger) with the credit the meters report.
Pure and vectorised, like the other checks: arrays in, findings out.

- `credit_not_seen`: credit sold at t and not seen in the meter by t + `seen_within_s` (no reading in
  that time whose credit is the credit before t plus `seen_share` of the amount sold);
- `low_credit`: a meter's latest credit below `low_credit`;
- `valve_closed_with_credit`: a meter's latest reading has its valve closed and credit above
  `low_credit` left (the valve should be open: a tenant without water who paid for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from meterd.validate.model import Findings

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CreditReadings:
    """Credit as meters reported it, ordered by meter and time: row i is meter `meter[i]` at `t[i]`."""

    meter: npt.NDArray[np.int32]
    t: I64
    credit: F64
    valve: npt.NDArray[np.int8] | None = None  # 1 closed, 0 open, -1 not reported


@dataclass(frozen=True)
class TopUps:
    meter: npt.NDArray[np.int32]
    sold_at: I64
    amount: F64


@dataclass(frozen=True)
class PrepaidLimits:
    seen_within_s: int = 3 * 86400
    seen_share: float = 0.9  # of the amount sold (the meter may have used some in between)
    low_credit: float = 10.0  # currency units


def reconcile(credit: CreditReadings, topups: TopUps, now: int, limits: PrepaidLimits = PrepaidLimits()) -> Findings:
    findings = Findings()
    _not_seen(credit, topups, now, limits, findings)
    _low(credit, limits, findings)
    _valve_closed(credit, limits, findings)
    return findings


def _not_seen(credit: CreditReadings, topups: TopUps, now: int, limits: PrepaidLimits, out: Findings) -> None:
    due = now - topups.sold_at > limits.seen_within_s
    if not due.any():
        return
    meter, sold, amount = topups.meter[due], topups.sold_at[due], topups.amount[due]
    missing = np.ones(len(meter), dtype=bool)
    if len(credit.meter):
        # readings are ordered by (meter, t): one sorted key finds each top-up's neighbours at once
        span = np.int64(1) << 40
        key = credit.meter.astype(np.int64) * span + credit.t
        at = meter.astype(np.int64) * span + sold
        start = np.searchsorted(key, at, side="right")
        stop = np.searchsorted(key, at + limits.seen_within_s, side="right")
        before = np.clip(start - 1, 0, None)
        base = np.where((start > 0) & (credit.meter[before] == meter), credit.credit[before], 0.0)
        # the highest credit reported in each window (one window per top-up: few)
        best = np.array([credit.credit[a:b].max() if b > a else -np.inf for a, b in zip(start, stop, strict=True)])
        missing = best < base + limits.seen_share * amount
    out.add_many("credit_not_seen", "warning", meter[missing], sold[missing], sold[missing] + limits.seen_within_s,
                 value=amount[missing], limit=np.full(int(missing.sum()), limits.seen_within_s / 86400.0))  # fmt: skip


def _low(credit: CreditReadings, limits: PrepaidLimits, out: Findings) -> None:
    if not len(credit.meter):
        return
    last = np.flatnonzero(np.r_[credit.meter[1:] != credit.meter[:-1], True])  # each meter's latest row
    low = credit.credit[last] < limits.low_credit
    rows = last[low]
    out.add_many("low_credit", "info", credit.meter[rows], credit.t[rows], credit.t[rows],
                 value=credit.credit[rows], limit=limits.low_credit)  # fmt: skip


def _valve_closed(credit: CreditReadings, limits: PrepaidLimits, out: Findings) -> None:
    if not len(credit.meter) or credit.valve is None:
        return
    last = np.flatnonzero(np.r_[credit.meter[1:] != credit.meter[:-1], True])
    stuck = (credit.valve[last] == 1) & (credit.credit[last] >= limits.low_credit)
    rows = last[stuck]
    out.add_many("valve_closed_with_credit", "critical", credit.meter[rows], credit.t[rows], credit.t[rows],
                 value=credit.credit[rows], limit=limits.low_credit)  # fmt: skip
