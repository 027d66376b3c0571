"""Finding a meter of the register as a person names it: its serial, or MAKER:SERIAL where makers share
the serial."""

from __future__ import annotations

from sqlalchemy import Connection, select

from meterd.errors import MeterdError
from meterd.ids import meter_label, parse_meter_ref
from meterd.store.models import Assignment, Meter, Premises


class MeterNotFound(MeterdError):
    code = "unknown_meter"


class MeterAmbiguous(MeterdError):
    code = "ambiguous_meter"


def find_meter(conn: Connection, text: str, premises: str | None = None) -> tuple[int, str, str]:
    """(store id, manufacturer, serial) of the one meter `text` names (in `premises`, when given:
    the meter that hangs or hung there); MeterNotFound, MeterAmbiguous (naming the makers) or
    ValueError for text that is no meter id."""
    maker, serial = parse_meter_ref(text)
    q = select(Meter.id, Meter.manufacturer, Meter.serial).where(Meter.serial == serial)
    if maker:
        q = q.where(Meter.manufacturer == maker)
    if premises is not None:
        q = q.join(Assignment, Assignment.meter_id == Meter.id).join(Premises, Premises.id == Assignment.premises_id)
        q = q.where(Premises.code == premises).distinct()
    found = conn.execute(q).all()
    if not found:
        where = f" in {premises}" if premises is not None else ""
        raise MeterNotFound(f"meter {meter_label(maker, serial)} is not in the register{where}")
    if len(found) > 1:
        makers = ", ".join(sorted(m or "(no maker)" for _, m, _ in found))
        raise MeterAmbiguous(f"meter {serial}: meters of several makers have this serial ({makers}); "
                             f"name it as MAKER:{serial}")  # fmt: skip
    mid, found_maker, found_serial = found[0]
    return int(mid), str(found_maker), str(found_serial)
