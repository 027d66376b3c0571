"""The top-up ledger, and what the prepaid checks read: credit sold, and credit the meters report (the
`credit` register of their readings)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from meterd.errors import MeterdError
from meterd.store.models import Meter, Reading, TopUp


class LedgerError(MeterdError):
    code = "ledger_error"


@dataclass(frozen=True)
class Sale:
    meter: str
    amount: float
    currency: str
    sold_at: int
    sold_by: str
    token: str
    vendor_ref: str


def record_sale(conn: Connection, sale: Sale) -> None:
    if not (0 < sale.amount <= 100_000):
        raise LedgerError(f"amount {sale.amount}: give more than 0 and at most 100000")
    from meterd.store.meters import find_meter

    try:
        mid, _, _ = find_meter(conn, sale.meter)
    except ValueError as e:
        raise LedgerError(str(e)) from None
    except MeterdError as e:
        raise LedgerError(e.message) from None
    try:
        with conn.begin_nested():
            conn.execute(insert(TopUp).values(meter_id=mid, amount=sale.amount, currency=sale.currency,
                                              sold_at=sale.sold_at, sold_by=sale.sold_by, token=sale.token,
                                              vendor_ref=sale.vendor_ref))  # fmt: skip
    except IntegrityError:
        raise LedgerError(f"token {sale.token[:4]}… was sold for meter {sale.meter} already") from None


def sales(conn: Connection, meter: str | None = None) -> list[Sale]:
    q = select(Meter.serial, TopUp.amount, TopUp.currency, TopUp.sold_at, TopUp.sold_by, TopUp.token,
               TopUp.vendor_ref).join(Meter, Meter.id == TopUp.meter_id)  # fmt: skip
    if meter is not None:
        q = q.where(Meter.serial == meter)
    return [Sale(*r) for r in conn.execute(q.order_by(Meter.serial, TopUp.sold_at)).all()]


def credit_readings(conn: Connection) -> list[tuple[int, int, float, int]]:
    """(meter store id, measured at, credit, valve) of every reading that reports credit, by meter and
    time; valve 1 closed, 0 open, -1 not reported (a vendor profile puts it among the registers)."""
    rows = conn.execute(
        select(Reading.meter_id, Reading.measured_at, Reading.registers)
        .where(Reading.registers.like('%"credit"%'))
        .order_by(Reading.meter_id, Reading.measured_at)
    ).all()
    out = []
    for mid, t, registers in rows:
        state = state_of(registers)
        if state is not None:
            valve = -1 if state.valve is None else int(state.valve == "closed")
            out.append((int(mid), int(t), state.credit, valve))
    return out


@dataclass(frozen=True, slots=True)
class PrepaidState:
    """What a prepaid meter reported in one reading: credit always; the rest where its vendor profile
    finds it (meterd.prepaid.profile)."""

    credit: float
    valve: str | None = None  # open, closed
    tamper: bool | None = None
    low_credit_flag: bool | None = None
    volume_credit: float | None = None
    last_topup: float | None = None


def state_of(registers: str | None) -> PrepaidState | None:
    """The prepaid state in a reading's registers (JSON), if it reports credit."""
    try:
        values = json.loads(registers or "{}")
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    credit = _number(values.get("credit"))
    if credit is None:
        return None
    valve = values.get("valve")
    return PrepaidState(
        credit,
        valve=valve if valve in ("open", "closed") else None,
        tamper=_flag(values.get("tamper")),
        low_credit_flag=_flag(values.get("low_credit_flag")),
        volume_credit=_number(values.get("volume_credit")),
        last_topup=_number(values.get("last_topup")),
    )


def _flag(value: object) -> bool | None:
    return bool(value) if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def sold(conn: Connection) -> list[tuple[int, int, float]]:
    """(meter store id, sold at, amount) of every top-up."""
    return [(int(m), int(t), float(a)) for m, t, a in conn.execute(select(TopUp.meter_id, TopUp.sold_at, TopUp.amount))]


def latest_state(conn: Connection, serial: str) -> tuple[PrepaidState, int] | None:
    """What a prepaid meter reported last, and when."""
    rows = conn.execute(
        select(Reading.registers, Reading.measured_at)
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.serial == serial, Reading.registers.like('%"credit"%'))
        .order_by(Reading.measured_at.desc())
        .limit(5)
    ).all()
    for registers, at in rows:
        state = state_of(registers)
        if state is not None:
            return state, int(at)
    return None

