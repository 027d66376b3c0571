"""Imports from the housing register: premises and meters, and AES keys. All or nothing per file."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, insert, select, update

from meterd.errors import MeterdError
from meterd.keyfile import check_permissions
from meterd.readings_csv import parse_time
from meterd.store.models import Assignment, Building, ImportBatch, Meter, MeterKey, Premises
from meterd.wmbus.keys import normalise_meter_id, parse_key


class ImportError_(MeterdError):
    """A file that cannot be imported; nothing of it was stored. `problems` lists lines."""

    code = "import_failed"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message if not problems else message + ":\n  " + "\n  ".join(problems[:50]))
        self.problems = problems or []


@dataclass
class ImportResult:
    batch_id: int
    rows: int
    created: dict[str, int] = field(default_factory=dict)


def _rows(path: Path, required: set[str]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ImportError_(f"cannot read {path}: {e.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = required - set(fields)
    if missing:
        raise ImportError_(f"{path}: header lacks {', '.join(sorted(missing))}")
    reader.fieldnames = fields
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader], fields


def _start_batch(conn: Connection, kind: str, path: Path, problems: list[str], rows: int) -> tuple[int, int]:
    """Refuse a file with bad rows (nothing is stored); else record the import batch: (batch id, time)."""
    if problems:
        raise ImportError_(f"{path}: {len(problems)} bad rows, nothing imported", problems)
    now = int(time.time())
    batch_id = conn.execute(
        insert(ImportBatch).values(kind=kind, source=str(path), created_at=now, rows=rows)
    ).inserted_primary_key[0]  # type: ignore[index]
    return int(batch_id), now


def building_of(address: str) -> str:
    """'ul. Długa 5/12' → 'ul. Długa 5': the building is the address before the flat number."""
    return address.rsplit("/", 1)[0].strip() if "/" in address else address.strip()


def import_premises(conn: Connection, path: Path) -> ImportResult:
    """premises_id, address, meter_id, manufacturer, medium, installed (+ building_id, q3_m3h, kind, schedule).

    A meter installed in a flat where another meter of the same medium hangs ends that meter's
    assignment at the installation date (a swap); a meter moved from another flat ends the old one."""
    rows, _ = _rows(path, {"premises_id", "address", "meter_id", "installed"})
    problems: list[str] = []
    parsed = []
    seen_meters: dict[str, int] = {}
    for line, row in rows:
        try:
            installed = parse_time(
                row["installed"] if "T" in row["installed"] else row["installed"] + "T00:00:00+00:00"
            )
        except ValueError:
            problems.append(f"line {line}: installed {row['installed']!r} is not a date (YYYY-MM-DD)")
            continue
        meter = normalise_meter_id(row["meter_id"]) if row["meter_id"] else ""
        if not row["premises_id"] or not meter:
            problems.append(f"line {line}: premises_id and meter_id are required")
            continue
        if meter in seen_meters:
            problems.append(f"line {line}: meter {meter} already listed on line {seen_meters[meter]}")
            continue
        try:
            q3 = float(row.get("q3_m3h") or 2.5)
        except ValueError:
            problems.append(f"line {line}: q3_m3h {row.get('q3_m3h')!r} is not a number")
            continue
        seen_meters[meter] = line
        parsed.append((line, row, meter, installed, q3))
    batch_id, _ = _start_batch(conn, "premises", path, problems, len(parsed))
    created = {"buildings": 0, "premises": 0, "meters": 0, "assignments": 0}
    for _line, row, serial, installed, q3 in sorted(parsed, key=lambda p: p[3]):
        b_code = row.get("building_id") or building_of(row["address"])
        b_id = conn.execute(select(Building.id).where(Building.code == b_code)).scalar()
        if b_id is None:
            b_id = conn.execute(
                insert(Building).values(code=b_code, address=building_of(row["address"]))
            ).inserted_primary_key[0]  # type: ignore[index]
            created["buildings"] += 1
        p_id = conn.execute(select(Premises.id).where(Premises.code == row["premises_id"])).scalar()
        if p_id is None:
            p_id = conn.execute(
                insert(Premises).values(code=row["premises_id"], building_id=b_id, address=row["address"])
            ).inserted_primary_key[0]  # type: ignore[index]
            created["premises"] += 1
        medium = (row.get("medium") or "water").lower()
        m_id = conn.execute(select(Meter.id).where(Meter.serial == serial)).scalar()
        values = {
            "manufacturer": (row.get("manufacturer") or "").upper(),
            "medium": medium,
            "q3_m3h": q3,
            "kind": row.get("kind") or "radio",
            "schedule": row.get("schedule") or "",
        }
        if m_id is None:
            m_id = conn.execute(insert(Meter).values(serial=serial, driver="auto", **values)).inserted_primary_key[0]  # type: ignore[index]
            created["meters"] += 1
        else:
            conn.execute(update(Meter).where(Meter.id == m_id).values(**values))
        _assign(conn, m_id, p_id, medium, installed, created)
    return ImportResult(batch_id, len(parsed), created)


def _assign(
    conn: Connection, meter_id: int, premises_id: int, medium: str, installed: int, created: dict[str, int]
) -> None:
    open_rows = conn.execute(
        select(Assignment.id, Assignment.meter_id, Assignment.premises_id, Assignment.valid_from)
        .join(Meter, Meter.id == Assignment.meter_id)
        .where(Assignment.valid_to.is_(None))
        .where((Assignment.meter_id == meter_id) | ((Assignment.premises_id == premises_id) & (Meter.medium == medium)))
    ).all()
    for a_id, a_meter, a_premises, a_from in open_rows:
        if a_meter == meter_id and a_premises == premises_id:
            return  # already hangs there
        end = max(installed, a_from)
        conn.execute(update(Assignment).where(Assignment.id == a_id).values(valid_to=end))
    conn.execute(insert(Assignment).values(meter_id=meter_id, premises_id=premises_id, valid_from=installed))
    created["assignments"] += 1


def import_keys(conn: Connection, path: Path, *, allow_insecure: bool = False) -> ImportResult:
    """meter_id,key rows; a new key for a meter closes the old one (history kept). Keys never echo."""
    if not allow_insecure:
        try:
            check_permissions(path)
        except MeterdError as e:
            raise ImportError_(e.message) from None
    rows, _ = _rows(path, {"meter_id", "key"})
    problems: list[str] = []
    parsed = []
    ids = dict(conn.execute(select(Meter.serial, Meter.id)).all())
    seen: set[str] = set()
    for line, row in rows:
        serial = normalise_meter_id(row["meter_id"]) if row["meter_id"] else ""
        if not serial:
            problems.append(f"line {line}: empty meter_id")
            continue
        if serial not in ids:
            problems.append(f"line {line}: unknown meter {serial} (import premises and meters first)")
            continue
        if serial in seen:
            problems.append(f"line {line}: meter {serial} listed twice")
            continue
        try:
            key = parse_key(row["key"])
        except ValueError as e:
            problems.append(f"line {line}: meter {serial}: {e}")
            continue
        seen.add(serial)
        parsed.append((ids[serial], key))
    batch_id, now = _start_batch(conn, "keys", path, problems, len(parsed))
    rotated = 0
    for meter_id, key in parsed:
        current = conn.execute(
            select(MeterKey.id, MeterKey.key).where(MeterKey.meter_id == meter_id, MeterKey.valid_to.is_(None))
        ).first()
        if current is not None:
            if current.key == key:
                continue
            conn.execute(update(MeterKey).where(MeterKey.id == current.id).values(valid_to=now))
            rotated += 1
        conn.execute(insert(MeterKey).values(meter_id=meter_id, key=key, valid_from=now, batch_id=batch_id))
    return ImportResult(batch_id, len(parsed), {"rotated": rotated})


def current_keys(conn: Connection) -> dict[str, bytes]:
    """Meter serial → current key, for the decoder only (never for output)."""
    rows = conn.execute(
        select(Meter.serial, MeterKey.key)
        .join(MeterKey, MeterKey.meter_id == Meter.id)
        .where(MeterKey.valid_to.is_(None))
    ).all()
    return {serial: key for serial, key in rows}
