"""Imports from the housing register: premises and meters, and AES keys. All or nothing per file.

A register file describes the register's state at the dates it gives. The store may know more (a
later file, a walk-by or an operator recorded a meter swap): a row that contradicts a later fact of
the store is a conflict, reported with its line, and the file changes nothing unless `replace` is
given, which makes the file's rows the truth from their installation dates on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from meterd.errors import MeterdError
from meterd.fileio import check_permissions
from meterd.ids import KEY, MANUFACTURER, METER_ID, meter_label, normalise_manufacturer, normalise_meter_id
from meterd.store.ingest import TimeWindow, bulk_insert, fetch_all
from meterd.store.models import Assignment, Building, ImportBatch, Meter, Premises
from meterd.textinput import CsvFile, InputFileError
from meterd.times import parse_time

if TYPE_CHECKING:
    from meterd.store import Store

MEDIA = frozenset({"water", "cold_water", "warm_water", "hot_water", "heat", "gas", "electricity"})
KINDS = frozenset({"radio", "wired", "prepaid", "walkby"})


PREMISES_ID = re.compile(r"[^\W_]([^\W]|[-.])*", re.UNICODE)  # letters, digits, - _ . (not first)

class ImportError_(MeterdError):
    """A file that cannot be imported; nothing of it was stored. `problems` lists lines."""

    code = "import_failed"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        shown = (problems or [])[:50]
        more = f"\n  ... and {len(problems or []) - 50} more" if len(problems or []) > 50 else ""
        super().__init__(message if not shown else message + ":\n  " + "\n  ".join(shown) + more)
        self.problems = problems or []


@dataclass
class ImportResult:
    batch_id: int
    rows: int
    created: dict[str, int] = field(default_factory=dict)


def _rows(path: Path, required: set[str], encoding: str) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        yield from CsvFile(path, encoding).rows(required)
    except InputFileError as e:
        raise ImportError_(e.message) from None


def _start_batch(conn: Connection, kind: str, path: Path, problems: list[str], rows: int) -> tuple[int, int]:
    """Refuse a file with bad rows (nothing is stored); else record the import batch: (batch id, time)."""
    if problems:
        raise ImportError_(f"{path}: {len(problems)} bad rows, nothing imported", problems)
    now = int(time.time())
    batch_id = conn.execute(
        insert(ImportBatch).values(kind=kind, source=str(path)[:300], created_at=now, rows=rows)
    ).inserted_primary_key[0]  # type: ignore[index]
    return int(batch_id), now


def building_of(address: str) -> str:
    """'ul. Długa 5/12' → 'ul. Długa 5': the building is the address before the flat number."""
    return address.rsplit("/", 1)[0].strip() if "/" in address else address.strip()


class RegisterRow(NamedTuple):
    """One valid register row (a NamedTuple: registers have 100,000 rows and more)."""

    line: int
    premises: str
    address: str
    building: str
    meter: str
    installed: int
    meter_values: dict[str, Any]

    @property
    def medium(self) -> str:
        return str(self.meter_values["medium"])

    @property
    def identity(self) -> tuple[str, str]:
        """(manufacturer or "", serial): the meter as the store knows it."""
        return str(self.meter_values["manufacturer"]), self.meter

    @property
    def label(self) -> str:
        return meter_label(*self.identity)


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


class _Dates(dict[str, int | None]):
    """Installation dates of one file, parsed once each (a register repeats a few dates many times)."""

    def __missing__(self, text: str) -> int | None:
        try:
            value: int | None = parse_time(text if "T" in text else text + "T00:00:00+00:00")
        except (ValueError, OverflowError):
            value = None
        self[text] = value
        return value


def _meter_values(key: tuple[str, ...]) -> dict[str, Any] | str:
    """A meter's values from its register columns, or the problem with them."""
    manufacturer_text, medium_text, q3_text, kind_text, schedule = key
    manufacturer = manufacturer_text.upper()
    if manufacturer and not MANUFACTURER.fullmatch(manufacturer):
        return f"manufacturer {manufacturer[:20]!r} is not a three-letter code"
    medium = (medium_text or "water").lower()
    if medium not in MEDIA:
        return f"medium {medium[:30]!r} is unknown (one of {', '.join(sorted(MEDIA))})"
    q3_text = q3_text or "2.5"
    try:
        q3 = float(q3_text.replace(",", "."))
    except ValueError:
        return f"q3_m3h {q3_text[:30]!r} is not a number"
    if not 0 < q3 <= 1000:  # NaN fails this as well
        return f"q3_m3h {q3_text[:30]!r} is not a positive flow in m3/h"
    kind = kind_text or "radio"
    if kind not in KINDS:
        return f"kind {kind[:20]!r} is unknown (one of {', '.join(sorted(KINDS))})"
    if schedule:
        from meterd.validate.schedule import ScheduleError, parse_schedule

        try:
            parse_schedule(schedule)
        except ScheduleError as e:
            return str(e)
    return {"manufacturer": manufacturer, "medium": medium, "q3_m3h": q3, "kind": kind, "schedule": schedule}


class _FileCache:
    """What one file repeats, parsed once: installation dates, and meter values (manufacturer, medium,
    Q3, kind, schedule), which rows share as one dict (never changed after)."""

    def __init__(self) -> None:
        self.dates = _Dates()
        self._values: dict[tuple[str, ...], dict[str, Any] | str] = {}

    def meter_values(self, key: tuple[str, ...]) -> dict[str, Any] | str:
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = _meter_values(key)
        return found


def parse_register_row(
    line: int, row: dict[str, str], window: TimeWindow, cache: _FileCache | None = None
) -> RegisterRow | str:
    """One register row, or the problem with it (never a traceback, whatever the values)."""
    premises, address, meter_text = row.get("premises_id", ""), row.get("address", ""), row.get("meter_id", "")
    if not premises or not meter_text:
        return "premises_id and meter_id are required"
    if len(premises) > 64:
        return f"premises_id is longer than 64 characters ({len(premises)})"
    if not PREMISES_ID.fullmatch(premises):
        return (f"premises_id {premises[:40]!r}: only letters (Polish ones too), digits and - _ . "
                "(it becomes part of addresses of the account view)")
    if len(address) > 200:
        return f"address is longer than 200 characters ({len(address)})"
    if not METER_ID.fullmatch(meter_text):
        return f"meter_id {meter_text[:20]!r} is not a meter id (up to 8 hex digits)"
    installed_text = row.get("installed", "")
    installed = (cache.dates if cache is not None else _Dates())[installed_text]
    if installed is None:
        return f"installed {installed_text[:30]!r} is not a date (YYYY-MM-DD)"
    if not window.holds(installed):
        return f"installed {installed_text[:30]!r} is not a plausible date (2000 to today)"
    get = row.get
    key = (get("manufacturer") or "", get("medium") or "", get("q3_m3h") or "", get("kind") or "", get("schedule") or "")
    values = (cache if cache is not None else _FileCache()).meter_values(key)
    if isinstance(values, str):
        return values
    building = row.get("building_id") or building_of(address)
    if len(building) > 64:
        return f"building_id is longer than 64 characters ({len(building)})"
    return RegisterRow(line, premises, address, building, normalise_meter_id(meter_text), installed, values)


@dataclass
class _Span:
    """An assignment as the store holds it (`id` None: created by this import, not yet written)."""

    id: int | None
    meter: int
    premises: int
    start: int
    end: int | None
    medium: str = ""


class _Register:
    """The store's register, loaded once for a bulk import and indexed by meter and by flat and medium."""

    def __init__(self, conn: Connection) -> None:
        self.buildings: dict[str, int] = dict(conn.execute(select(Building.code, Building.id)).all())
        self.premises: dict[str, tuple[int, int, str]] = {
            code: (pid, bid, addr)
            for pid, code, bid, addr in conn.execute(
                select(Premises.id, Premises.code, Premises.building_id, Premises.address)
            )
        }
        # by (manufacturer, serial): a serial is unique per maker only
        self.meters: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {
            (r.manufacturer, r.serial): (
                r.id, {k: getattr(r, k) for k in ("manufacturer", "medium", "q3_m3h", "kind", "schedule")}
            )
            for r in conn.execute(
                select(
                    Meter.id, Meter.serial, Meter.manufacturer, Meter.medium, Meter.q3_m3h, Meter.kind, Meter.schedule
                )
            )
        }
        self.codes = {pid: code for code, (pid, _, _) in self.premises.items()}
        self.serials = {mid: ident for ident, (mid, _) in self.meters.items()}
        self.makers: dict[str, list[str]] = {}  # serial → makers of the store's meters with it
        for maker, serial in self.meters:
            self.makers.setdefault(serial, []).append(maker)
        self.by_meter: dict[int, list[_Span]] = {}
        self.by_slot: dict[tuple[int, str], list[_Span]] = {}
        rows = conn.execute(
            select(
                Assignment.id, Assignment.meter_id, Assignment.premises_id, Assignment.valid_from, Assignment.valid_to
            )
        )
        for r in rows:
            self.add(_Span(*r, medium=self.medium_of(r[1])))
        self.pending: list[_Span] = []
        self.closed: dict[int, int] = {}  # stored assignment id → new valid_to
        self.deleted: set[int] = set()

    def medium_of(self, meter_id: int) -> str:
        return str(self.meters[self.serials[meter_id]][1]["medium"])

    def meter_id(self, item: RegisterRow) -> int | None:
        found = self.meters.get(item.identity)
        return found[0] if found is not None else None

    def label(self, meter_id: int) -> str:
        ident = self.serials.get(meter_id)
        return meter_label(*ident) if ident is not None else "?"

    def resolve(self, item: RegisterRow) -> RegisterRow | str:
        """The row with the identity of the store's meter it names, or the problem. A row without a maker
        names the one meter of its serial; a row with one names that maker's meter, or a meter of that
        serial whose maker the store did not know yet (it learns it now)."""
        maker, serial = item.identity
        makers = self.makers.get(serial, [])
        if maker:  # that maker's meter, or the store's meter of the serial without a maker (_ensure_meters)
            return item
        if not makers or makers == [""]:
            return item
        if len(makers) > 1:
            known = ", ".join(sorted(m or "(no maker)" for m in makers))
            return (f"meter {serial}: the store has meters of several makers with this serial ({known}); "
                    "name the maker in a manufacturer column")
        return item._replace(meter_values={**item.meter_values, "manufacturer": makers[0]})

    def add(self, span: _Span) -> None:
        self.by_meter.setdefault(span.meter, []).append(span)
        self.by_slot.setdefault((span.premises, span.medium), []).append(span)

    def remove(self, span: _Span) -> None:
        self.by_meter[span.meter].remove(span)
        self.by_slot[(span.premises, span.medium)].remove(span)
        if span.id is None:
            self.pending.remove(span)
        else:
            self.deleted.add(span.id)
            self.closed.pop(span.id, None)

    def end(self, span: _Span, at: int) -> None:
        span.end = at
        if span.id is not None:
            self.closed[span.id] = at

    def related(self, meter_id: int | None, premises_id: int | None, medium: str) -> list[_Span]:
        """Spans of this meter, and of this flat's meters of the same medium."""
        mine = self.by_meter.get(meter_id) if meter_id is not None else None
        slot = self.by_slot.get((premises_id, medium)) if premises_id is not None else None
        if not mine and not slot:
            return []  # the common case of a new meter in a new flat
        spans = list(mine or ())
        spans += [s for s in slot or () if s.meter != meter_id]
        return spans

    def write(self, conn: Connection) -> None:
        if self.deleted:
            conn.execute(delete(Assignment).where(Assignment.id.in_(sorted(self.deleted))))
        if self.closed:
            conn.execute(
                update(Assignment).where(Assignment.id == bindparam("aid")).values(valid_to=bindparam("end")),
                [{"aid": aid, "end": end} for aid, end in self.closed.items()],
            )
        if self.pending:
            bulk_insert(
                conn,
                "assignments",
                ("meter_id", "premises_id", "valid_from", "valid_to"),
                [(s.meter, s.premises, s.start, s.end) for s in self.pending],
            )


def import_premises(conn: Connection, path: Path, *, replace: bool = False, encoding: str = "utf-8") -> ImportResult:
    """premises_id, address, meter_id, manufacturer, medium, installed (+ building_id, q3_m3h, kind, schedule).

    A meter installed in a flat where another meter of the same medium hangs since an earlier date ends
    that meter's assignment at the installation date (a swap; meters of one medium installed on the same
    date hang side by side); a meter moved from another flat ends the old one."""
    window = TimeWindow.around(int(time.time()))
    problems: list[str] = []
    parsed: list[RegisterRow] = []
    seen_meters: dict[str, dict[str, int]] = {}  # serial → maker → line
    cache = _FileCache()
    for line, row in _rows(path, {"premises_id", "address", "meter_id", "installed"}, encoding):
        item = parse_register_row(line, row, window, cache)
        if isinstance(item, str):
            problems.append(f"{path}:{line}: {item}")
            continue
        maker, serial = item.identity
        lines = seen_meters.setdefault(serial, {})
        if maker in lines:
            hint = "" if maker else " (two makers' meters? name the maker of each in a manufacturer column)"
            problems.append(f"{path}:{line}: meter {item.label} already listed on line {lines[maker]}{hint}")
        elif lines and ("" in lines or not maker):
            other = min(lines.values())
            problems.append(f"{path}:{line}: meter {serial} is listed on line {other} too: name the maker of "
                            "each in a manufacturer column (serials are unique per maker only)")
        else:
            lines[maker] = line
            parsed.append(item)
    if problems:
        raise ImportError_(f"{path}: {len(problems)} bad rows, nothing imported", problems)
    reg = _Register(conn)
    resolved = [reg.resolve(item) for item in parsed]
    problems = [f"{path}:{item.line}: {r}" for item, r in zip(parsed, resolved, strict=True) if isinstance(r, str)]
    if problems:
        raise ImportError_(f"{path}: {len(problems)} rows name no single meter, nothing imported", problems)
    parsed = [r for r in resolved if not isinstance(r, str)]
    conflicts = [] if replace else _conflicts(path, parsed, reg)
    if conflicts:
        raise ImportError_(
            f"{path}: {len(conflicts)} rows contradict what the store knows, nothing imported "
            "(--replace makes the file's assignments the truth from their installation dates)",
            conflicts,
        )
    batch_id, _ = _start_batch(conn, "premises", path, [], len(parsed))
    created = {"buildings": 0, "premises": 0, "meters": 0, "assignments": 0, "addresses": 0}
    _ensure_places(conn, parsed, reg, created)
    _ensure_meters(conn, parsed, reg, created)
    for item in sorted(parsed, key=lambda p: p.installed):
        _assign(reg, item, replace, created)
    reg.write(conn)
    return ImportResult(batch_id, len(parsed), created)


def _ensure_places(conn: Connection, parsed: list[RegisterRow], reg: _Register, created: dict[str, int]) -> None:
    """Buildings and premises: new ones created in bulk; a known premises whose address changed is updated
    (and moved to the building of its new address). A building is created only when a premises needs it."""
    wanted: dict[str, RegisterRow] = {}
    for item in parsed:
        wanted.setdefault(item.premises, item)
    changed = {
        code: item for code, item in wanted.items() if code not in reg.premises or reg.premises[code][2] != item.address
    }
    needed = {
        item.building: building_of(item.address) for item in changed.values() if item.building not in reg.buildings
    }
    if needed:
        conn.execute(insert(Building), [{"code": c, "address": a[:200]} for c, a in needed.items()])
        found = conn.execute(select(Building.code, Building.id).where(Building.code.in_(list(needed))))
        reg.buildings.update(found.all())
        created["buildings"] += len(needed)
    moved = [
        {"pid": reg.premises[code][0], "addr": item.address, "bid": reg.buildings[item.building]}
        for code, item in changed.items()
        if code in reg.premises
    ]
    if moved:
        conn.execute(
            update(Premises)
            .where(Premises.id == bindparam("pid"))
            .values(address=bindparam("addr"), building_id=bindparam("bid")),
            moved,
        )
        created["addresses"] += len(moved)
    new = [
        {"code": code, "building_id": reg.buildings[item.building], "address": item.address}
        for code, item in changed.items()
        if code not in reg.premises
    ]
    if new:
        bulk_insert(conn, "premises", ("code", "building_id", "address"), [(p["code"], p["building_id"], p["address"]) for p in new])
    if new or moved:
        for pid, code, bid, addr in fetch_all(conn, "SELECT id, code, building_id, address FROM premises"):
            if code in changed:
                reg.premises[code] = (pid, bid, addr)
                reg.codes[pid] = code
        created["premises"] += len(new)


def _ensure_meters(conn: Connection, parsed: list[RegisterRow], reg: _Register, created: dict[str, int]) -> None:
    """Meters: new ones created in bulk, known ones updated where the file's values differ. A row naming
    the maker of a meter the store knew without one gives it that maker."""
    for item in parsed:
        maker, serial = item.identity
        if maker and item.identity not in reg.meters and _same_meter(reg, item):
            reg.meters[item.identity] = reg.meters.pop(("", serial))
            reg.serials[reg.meters[item.identity][0]] = item.identity
            reg.makers[serial] = [maker if m == "" else m for m in reg.makers[serial]]
    new = [item for item in parsed if item.identity not in reg.meters]
    changed = [
        {"mid": reg.meters[item.identity][0], **item.meter_values}
        for item in parsed
        if item.identity in reg.meters and reg.meters[item.identity][1] != item.meter_values
    ]
    if changed:
        columns: dict[str, Any] = {k: bindparam(k) for k in changed[0] if k != "mid"}
        conn.execute(update(Meter).where(Meter.id == bindparam("mid")).values(columns), changed)
    if new:
        names = ("manufacturer", "medium", "q3_m3h", "kind", "schedule")
        rows = [(item.meter, "auto", *(item.meter_values[c] for c in names)) for item in new]
        bulk_insert(conn, "meters", ("serial", "driver", *names), rows)
        fresh = {item.identity for item in new}
        for mid, serial, maker in fetch_all(conn, "SELECT id, serial, manufacturer FROM meters"):
            if (maker, serial) in fresh:
                reg.meters[(maker, serial)] = (mid, {})
                reg.serials[mid] = (maker, serial)
        created["meters"] += len(new)
    for item in parsed:  # the file's values are the meters' values now (never changed afterwards)
        reg.meters[item.identity] = (reg.meters[item.identity][0], item.meter_values)


def _same_meter(reg: _Register, item: RegisterRow) -> bool:
    """Whether a row naming a maker names the store's meter of that serial without one: it hangs in the
    row's flat, or nowhere. (One in another flat is another maker's meter: a second meter.)"""
    found = reg.meters.get(("", item.meter))
    if found is None:
        return False
    premises = reg.premises.get(item.premises)
    spans = [s for s in reg.by_meter.get(found[0], []) if s.end is None]
    return not spans or (premises is not None and any(s.premises == premises[0] for s in spans))


def _conflicts(path: Path, parsed: list[RegisterRow], reg: _Register) -> list[str]:
    """Rows that would undo a later fact of the store: the meter, or the flat's meter of that medium,
    changed after the row's installation date."""
    out = []
    for item in parsed:
        meter_id = reg.meter_id(item)
        if meter_id is None and item.identity[0] and _same_meter(reg, item):
            meter_id = reg.meters[("", item.meter)][0]  # the store's meter of this serial, maker unknown
        premises = reg.premises.get(item.premises)
        premises_id = premises[0] if premises is not None else None
        spans = reg.related(meter_id, premises_id, item.medium)
        spans.sort(key=lambda a: (a.meter != meter_id, a.end is not None))  # the meter's open span says most
        for a in spans:
            if a.meter == meter_id and a.premises == premises_id and a.end is None:
                continue  # the row agrees with the store
            if not (a.start > item.installed or (a.end is not None and a.end > item.installed)):
                continue
            where = reg.codes.get(a.premises, "?")
            if a.meter == meter_id and a.end is None:
                text = f"meter {item.label} hangs in {where} since {_day(a.start)} according to the store"
            elif a.meter == meter_id:
                text = f"meter {item.label} was taken out of {where} on {_day(a.end or 0)} according to the store"
            else:
                text = (
                    f"{item.premises} has had meter {reg.label(a.meter)} since {_day(a.start)} according to "
                    f"the store, later than the file's {item.label} installed {_day(item.installed)}"
                )
            out.append(f"{path}:{item.line}: {text}")
            break
    return out


def _assign(reg: _Register, item: RegisterRow, replace: bool, created: dict[str, int]) -> None:
    meter_id = reg.meters[item.identity][0]
    premises_id = reg.premises[item.premises][0]
    related = reg.related(meter_id, premises_id, item.medium)
    if any(a.meter == meter_id and a.premises == premises_id and a.end is None for a in related):
        return  # already hangs there
    for a in related:
        if replace and a.start >= item.installed:  # the file is the truth from its date on
            reg.remove(a)
        elif a.end is None and (a.meter == meter_id or a.start < item.installed):
            reg.end(a, max(item.installed, a.start))
        elif replace and a.end is not None and a.end > item.installed:
            reg.end(a, item.installed)
    span = _Span(None, meter_id, premises_id, item.installed, None, item.medium)
    reg.add(span)
    reg.pending.append(span)
    created["assignments"] += 1


def import_keys(
    conn: Connection, store: Store, path: Path, *, allow_insecure: bool = False, encoding: str = "utf-8"
) -> ImportResult:
    """meter_id,key rows (an optional manufacturer column names the maker, needed where meters of several
    makers share the serial); a new key for a meter closes the old one (history kept).

    Nothing read from a key file is ever printed: problems name the line and the column only."""
    from meterd.store.keys import put_keys

    if not allow_insecure:
        try:
            check_permissions(path)
        except MeterdError as e:
            raise ImportError_(e.message) from None
    problems: list[str] = []
    parsed: list[tuple[int, str, bytes]] = []
    makers: dict[str, dict[str, int]] = {}  # serial → maker → meter id
    for store_id, serial, maker in conn.execute(select(Meter.id, Meter.serial, Meter.manufacturer)).all():
        makers.setdefault(serial, {})[maker] = store_id
    seen: dict[int, int] = {}
    for line, row in _rows(path, {"meter_id", "key"}, encoding):
        meter_text, key_text = row.get("meter_id", ""), row.get("key", "").replace(" ", "")
        maker = normalise_manufacturer(row.get("manufacturer") or "")
        if not METER_ID.fullmatch(meter_text):
            problems.append(f"{path}:{line}: column meter_id: not a meter id (up to 8 hex digits)")
            continue
        if maker and not MANUFACTURER.fullmatch(maker):
            problems.append(f"{path}:{line}: column manufacturer: not a three-letter code")
            continue
        serial = normalise_meter_id(meter_text)
        found = makers.get(serial, {})
        mid: int | None
        if maker:
            mid = found.get(maker, found.get(""))
        elif len(found) > 1:
            problems.append(f"{path}:{line}: column meter_id: meters of several makers have this serial "
                            f"({', '.join(sorted(found))}); name the maker in a manufacturer column")
            continue
        else:
            mid = next(iter(found.values()), None)
        if mid is None:
            problems.append(f"{path}:{line}: column meter_id: no such meter in the store (import premises first)")
            continue
        if mid in seen:
            problems.append(f"{path}:{line}: column meter_id: the same meter as on line {seen[mid]}")
            continue
        if not KEY.fullmatch(key_text):
            problems.append(f"{path}:{line}: column key: not 32 hex digits (an AES-128 key) nor 16 (a DES key)")
            continue
        seen[mid] = line
        parsed.append((mid, serial, bytes.fromhex(key_text)))
    batch_id, _ = _start_batch(conn, "keys", path, problems, len(parsed))
    rotated = put_keys(conn, store, parsed, batch_id)
    return ImportResult(batch_id, len(parsed), {"rotated": rotated})
