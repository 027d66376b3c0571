"""A walk's bundle: the readings of a route's meters since its import, and what the walk heard of them
(coverage), as JSON lines the central store takes (`meterd route bundle` / `route sync`). A header
`{"kind": "meterd-route-bundle", "version": 1, "route", "created_at", "readings", "hearings"}`, then one
line per hearing (`{"hearing": {...}}`) and per reading. A bad line refuses the whole bundle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

import orjson
from sqlalchemy import Connection, select

from meterd.coverage.hearing import BadHearing, Hearing, HearingKind, day_of
from meterd.errors import MeterdError
from meterd.ids import MANUFACTURER
from meterd.jsonio import dumps
from meterd.reading import BadReading, iso, parse_iso
from meterd.store.hearings import own_hearings
from meterd.store.ingest import SOURCES, ReadingIn
from meterd.store.models import Meter, Reading
from meterd.store.routes import route_stops
from meterd.textinput import InputFileError, TextFile
from meterd.validate.model import alarm_mask, alarm_names

BUNDLE_KIND = "meterd-route-bundle"


class BundleError(MeterdError):
    code = "bad_bundle"


def write_bundle(conn: Connection, route: str, f: IO[str], now: int) -> int:
    """The route's bundle into `f`; returns how many readings it holds."""
    counts_from, stops = route_stops(conn, route)
    serials = sorted({s.meter for s in stops})
    rows = conn.execute(
        select(Meter.serial, Meter.manufacturer, Reading.measured_at, Reading.received_at, Reading.total_m3,
               Reading.source, Reading.gateway, Reading.alarms)
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.serial.in_(serials), Reading.received_at >= counts_from)
        .order_by(Meter.serial, Reading.measured_at)
    ).all()  # fmt: skip
    walked = [h for h in own_hearings(conn, walk_gateway(route), day_of(counts_from)) if h.kind is HearingKind.WALK]
    f.write(dumps({"kind": BUNDLE_KIND, "version": 1, "route": route, "created_at": iso(now), "readings": len(rows),
                   "hearings": len(walked)}).decode() + "\n")  # fmt: skip
    for h in walked:  # what the walk heard, for the coverage of the central store
        f.write(dumps({"hearing": {**h.to_json(), "gateway": h.gateway}}).decode() + "\n")
    for serial, maker, measured, received, total, source, gateway, alarms in rows:
        f.write(dumps({"meter_id": serial, "manufacturer": maker, "measured_at": iso(measured), "received_at": iso(received),
                       "total_m3": total, "source": source, "gateway": gateway or "",
                       "alarms": alarm_names(alarms or 0)}).decode() + "\n")  # fmt: skip
    return len(rows)


def walk_gateway(route: str) -> str:
    """The name a walk of `route` hears under (its readings' gateway, its hearings')."""
    return f"walk-{route}"[:64].replace(" ", "_")


def read_bundle(path: Path) -> tuple[list[ReadingIn], list[Hearing]]:
    """(readings, the walk's hearings) of a bundle; BundleError naming every bad line."""
    out: list[ReadingIn] = []
    hearings: list[Hearing] = []
    today = int(time.time()) // 86_400
    problems: list[str] = []
    text = TextFile(path)
    try:
        lines = list(text.lines())
    except InputFileError as e:
        raise BundleError(e.message) from None
    if not lines:
        raise BundleError(f"{path}: empty file")
    try:
        head = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        head = None
    if not isinstance(head, dict) or head.get("kind") != BUNDLE_KIND:
        raise BundleError(f"{path}:1: not a route bundle (made by `meterd route bundle`)")
    for number, line in enumerate(lines[1:], start=2):
        try:
            obj = orjson.loads(line)
            if not isinstance(obj, dict):
                raise BadReading("a reading is a JSON object")
            if "hearing" in obj:
                heard = obj["hearing"]
                gateway = heard.get("gateway") if isinstance(heard, dict) else None
                if not isinstance(gateway, str) or not gateway.startswith("walk-") or len(gateway) > 64 \
                        or not gateway.isprintable():  # fmt: skip
                    raise BadReading("a hearing's gateway is not a walk's")
                try:
                    h = Hearing.from_json(heard, gateway, today)
                except BadHearing as e:
                    raise BadReading(f"hearing: {e}") from None
                if h.kind is not HearingKind.WALK:
                    raise BadReading("a bundle holds a walk's hearings only")
                hearings.append(h)
                continue
            meter = obj.get("meter_id")
            maker = obj.get("manufacturer") or ""
            total = obj.get("total_m3")
            source = obj.get("source") or "walkby"
            alarms = obj.get("alarms") or []
            if not isinstance(meter, str) or not meter or len(meter) > 32:
                raise BadReading("meter_id is not a meter id")
            if not isinstance(maker, str) or (maker and not MANUFACTURER.fullmatch(maker)):
                raise BadReading("manufacturer is not a three-letter code")
            if total is not None and (not isinstance(total, int | float) or isinstance(total, bool)):
                raise BadReading("total_m3 is not a number")
            if source not in SOURCES or not isinstance(alarms, list):
                raise BadReading("source or alarms are not what a bundle holds")
            out.append(ReadingIn(meter=meter, manufacturer=maker.upper(), measured_at=parse_iso(obj.get("measured_at"), "measured_at"),
                                 received_at=parse_iso(obj.get("received_at"), "received_at"),
                                 total_m3=float(total) if total is not None else None, source=source,
                                 gateway=str(obj.get("gateway") or "")[:64] or None,
                                 alarms=alarm_mask([str(a) for a in alarms])))  # fmt: skip
        except (orjson.JSONDecodeError, BadReading) as e:
            problems.append(f"{path}:{number}: {getattr(e, 'message', None) or 'not JSON'}")
    if problems:
        shown = "\n  ".join(problems[:20])
        raise BundleError(f"{path}: {len(problems)} bad lines, nothing stored:\n  {shown}")
    return out, hearings
