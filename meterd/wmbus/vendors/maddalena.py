"""Maddalena EVO 868 radio module: standard OMS records with a monthly history whose dates are implied.

The history volumes sit in storages 8-19, one per month; only storage 8 carries its date (the latest
month end), storage 8 + n belongs to n months before it (facts from the published test telegram of the
module). The decoder gives each history volume its date so that billing can use it directly.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from meterd.wmbus.vendors import VendorContext, VendorDecoder

FIRST, LAST = 8, 19


def months_before(reference: dt.date, months: int) -> dt.date:
    """The same day `months` earlier; a month end stays a month end (31 Dec → 30 Nov → 31 Oct)."""
    index = reference.year * 12 + reference.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    month_end = reference.day == calendar.monthrange(reference.year, reference.month)[1]
    return dt.date(year, month, last if month_end else min(reference.day, last))


def _date_record(storage: int, value: str) -> dict[str, Any]:
    return {"storage": storage, "tariff": 0, "subunit": 0, "function": "instantaneous", "quantity": "date",
            "unit": None, "value": value, "dif": None, "vif": None, "derived": True}  # fmt: skip


class Evo868(VendorDecoder):
    name = "evo868"
    manufacturers = frozenset({"MAD"})
    device_types = frozenset({0x06, 0x07, 0x16})

    def apply(self, ctx: VendorContext) -> bool:
        reference = next(
            (r["value"] for r in ctx.records if r["storage"] == FIRST and r["quantity"] == "date" and r["value"]),
            None,
        )
        if not isinstance(reference, str):
            return False
        try:
            ref = dt.date.fromisoformat(reference)
        except ValueError:
            return False
        dated = {r["storage"] for r in ctx.records if r["quantity"] == "date"}
        for rec in list(ctx.records):
            storage = rec["storage"]
            if rec["quantity"] == "volume" and FIRST < storage <= LAST and storage not in dated:
                day = months_before(ref, storage - FIRST).isoformat()
                ctx.records.insert(ctx.records.index(rec) + 1, _date_record(storage, day))
                dated.add(storage)
        return True
