"""`meterd report`: readings and monthly consumption per flat, as a tenant sees them; readings of meters
not in the register, refused readings, and radio coverage."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from meterd.commands.storeopts import add_store_options, iso_minute, open_store

if TYPE_CHECKING:
    from meterd.store import Store


def report(store: Store, codes: list[str] | None, months: int, out: IO[str] = sys.stdout) -> None:
    """Readings and monthly consumption of flats: what a tenant sees in the account view."""
    from meterd.store.flat_report import flat_reports

    with store.begin() as conn:
        flats = flat_reports(conn, codes, months)
    for flat in flats:
        out.write(f"\n== {flat.code}: {flat.readings} readings\n")
        for m in flat.meters:
            r = m.reading
            out.write(f"   meter {r.meter_id} ({r.medium}): {r.total_m3} m3 at {iso_minute(r.measured_at)} UTC\n")
            if m.prepaid is not None:
                st, at = m.prepaid
                extra = "".join(
                    f", {text}" for text in (
                        f"valve {st.valve}" if st.valve else "", "TAMPER" if st.tamper else "",
                        "low-credit flag" if st.low_credit_flag else "",
                        f"{st.volume_credit:.3f} m3 left" if st.volume_credit is not None else "",
                        f"last top-up {st.last_topup:.2f}" if st.last_topup is not None else "",
                    ) if text
                )  # fmt: skip
                out.write(f"      credit {st.credit:.2f} at {iso_minute(at)} UTC{extra}\n")
        if flat.media:
            out.write("   month      " + "  ".join(f"{m:>12}" for m in flat.media) + "\n")
            for month in flat.months:
                label = datetime.fromtimestamp(month.end - 1, UTC).strftime("%Y-%m")
                values = "  ".join(f"{month.m3.get(m, 0.0):>9.3f} m3" for m in flat.media)
                out.write(f"   {label}    {values}\n")


def report_unknown(store: Store, out: IO[str] = sys.stdout) -> int:
    """Meters not in the register whose readings were kept apart by the central ingester."""
    from meterd.store.queries import unknown_meters

    with store.begin() as conn:
        meters = unknown_meters(conn)
    if not meters:
        out.write("no readings of unknown meters\n")
        return 0
    out.write(f"{'meter_id':<16} {'mfr':<4} {'readings':>9}  {'first (UTC)':<16}  {'last (UTC)':<16}  gateways\n")
    for m in meters:
        hint = f"  (the register lists {m.serial} by {m.register_makers}: its maker is wrong, or a neighbour's meter)" \
            if m.register_makers else ""
        out.write(f"{m.serial:<16} {m.manufacturer:<4} {m.readings:>9}  {iso_minute(m.first_at):<16}  "
                  f"{iso_minute(m.last_at):<16}  {m.gateways}{hint}\n")  # fmt: skip
    out.write(f"{len(meters)} meters not in the register; add them with `meterd import premises` to store their readings\n")
    return len(meters)


def report_rejected(store: Store, out: IO[str] = sys.stdout) -> int:
    """Every message and reading the central ingester refused, and every conflict, one per line."""
    from meterd.store.central import conflict_rows, refused_rows
    from meterd.validate.model import alarm_names

    with store.begin() as conn:
        refused, conflicts = refused_rows(conn), conflict_rows(conn)
    for r in refused:
        what = f"reading seq {r.seq}" if r.seq is not None else "message"
        verb = "noted   " if r.kept else "refused "
        out.write(f"{iso_minute(r.at)}  {verb}  {r.gateway:<16} {what}: {r.reason}: {r.message}  {r.content[:300]}\n")
    for c in conflicts:
        mine = f"{c.total_m3} m3 {','.join(alarm_names(c.alarms)) or '-'} from {c.gateway or '-'} ({c.source})"
        first = f"{c.stored_total_m3} m3 {','.join(alarm_names(c.stored_alarms)) or '-'} from {c.stored_gateway or '-'}"
        out.write(f"{iso_minute(c.found_at)}  conflict  meter {c.serial} at {iso_minute(c.measured_at)}: {mine}; "
                  f"stored first: {first}\n")  # fmt: skip
    noted = sum(r.kept for r in refused)
    out.write(f"{len(refused) - noted} refused, {noted} noted (stored), {len(conflicts)} conflicts\n")
    return len(refused) + len(conflicts)


def report_coverage(store: Store, since_s: int, fmt: str, out: IO[str] = sys.stdout) -> None:
    """Per meter of the register, the gateways and walks that heard it since then (telegrams, median
    RSSI, last time), whether two gateways or more hear it; then per gateway the meters only it hears."""
    from meterd.ids import meter_label
    from meterd.jsonio import dumps
    from meterd.reading import iso
    from meterd.store.hearings import store_coverage

    now = int(time.time())
    with store.begin() as conn:
        cov = store_coverage(conn, now - since_s, now=now)
    if fmt == "jsonl":
        for m in cov.meters:
            out.write(dumps(m.to_json(iso)).decode() + "\n")
        for gateway, only in sorted(cov.only_by.items()):
            out.write(dumps({"gateway": gateway, "only_heard": [m.meter.serial for m in only],
                             "only_heard_manufacturers": [m.meter.manufacturer for m in only]}).decode() + "\n")  # fmt: skip
        return
    out.write(f"{'meter':<14} {'premises':<12} {'heard by (median RSSI dBm, telegrams)':<52} redundant\n")
    for m in cov.meters:
        heard = ", ".join(f"{h.gateway}{' (walk)' if h.kind.value == 'walk' else ''} "
                          f"({'?' if h.rssi_median_dbm is None else f'{h.rssi_median_dbm:.0f}'}, {h.telegrams})"
                          for h in m.heard_by) or "nobody"  # fmt: skip
        out.write(f"{meter_label(m.meter.manufacturer, m.meter.serial):<14} {m.meter.premises:<12} {heard:<52} "
                  f"{'yes' if m.redundant else 'no'}\n")  # fmt: skip
    out.write("\nmeters only one gateway hears:\n")
    for gateway, only in sorted(cov.only_by.items()):
        names = ", ".join(meter_label(m.meter.manufacturer, m.meter.serial) for m in only[:20])
        more = f" and {len(only) - 20} more" if len(only) > 20 else ""
        out.write(f"  {gateway}: {len(only)} ({names}{more})\n")
    if not cov.only_by:
        out.write("  none\n")
    redundant = sum(m.redundant for m in cov.meters)
    out.write(f"\n{len(cov.meters)} meters: {redundant} heard by two gateways or more, {len(cov.single)} by one only, "
              f"{len(cov.unheard)} by none\n")  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    from meterd.commands.storeopts import BadArgument
    from meterd.times import parse_duration

    if args.coverage:
        try:
            since = parse_duration(args.since)
        except ValueError as e:
            raise BadArgument(f"--since {e}") from None
        report_coverage(open_store(args), since, args.format)
        return 0
    if args.rejected:
        report_rejected(open_store(args))
        return 0
    if args.unknown:
        report_unknown(open_store(args))
        return 0
    if not 1 <= args.months <= 240:
        raise BadArgument(f"--months {args.months}: give 1 to 240")
    report(open_store(args), args.premises, args.months)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="readings and monthly consumption per flat")
    p.add_argument("--premises", nargs="*", help="premises codes (default: all)")
    p.add_argument("--months", type=int, default=4)
    p.add_argument("--unknown", action="store_true", help="list meters not in the register that readings came from")
    p.add_argument("--rejected", action="store_true",
                   help="list the messages and readings the central ingester refused, and conflicting readings")
    p.add_argument("--coverage", action="store_true",
                   help="which gateways and walks hear each meter of the register, how often and how well")
    p.add_argument("--since", default="30d", help="--coverage: the period, back from now (7d, 36h; default 30d)")
    p.add_argument("--format", choices=("table", "jsonl"), default="table", help="--coverage: table or jsonl")
    add_store_options(p)
    p.set_defaults(func=cmd_report)
