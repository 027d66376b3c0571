"""`meterd retention`: thin raw telegrams, sub-daily readings and daily hearings past their age; says what
goes first."""

from __future__ import annotations

import argparse
import sys
import time

from meterd.commands.storeopts import BadArgument, add_store_options, open_store
from meterd.errors import MeterdError

MAX_DAYS = 36_500


class NotConfirmed(MeterdError):
    code = "not_confirmed"


def _days(value: int | None, option: str) -> int | None:
    if value is not None and not 1 <= value <= MAX_DAYS:
        raise BadArgument(f"{option} {value}: give a number of days from 1 to {MAX_DAYS}")
    return value


def cmd_retention(args: argparse.Namespace) -> int:
    from meterd.store.hearings import forget_hearings
    from meterd.store.queries import thin

    raw_days = _days(args.raw_days, "--raw-days")
    detail_days = _days(args.detail_days, "--detail-days")
    hearing_days = _days(args.hearing_days, "--hearing-days")
    if raw_days is None and detail_days is None and hearing_days is None:
        raise BadArgument("give --raw-days, --detail-days and/or --hearing-days")
    now = int(time.time())
    raw_before = now - raw_days * 86400 if raw_days is not None else None
    detail_before = now - detail_days * 86400 if detail_days is not None else None
    hearings_before = now - hearing_days * 86400 if hearing_days is not None else None
    store = open_store(args)
    with store.begin() as conn:
        plan = thin(conn, raw_before, detail_before, count_only=True)
        plan["hearings"] = forget_hearings(conn, hearings_before, count_only=True) if hearings_before else 0
    print(f"to remove: {plan['telegrams']} raw telegrams, {plan['readings']} sub-daily readings, "
          f"{plan['hearings']} daily hearings")  # fmt: skip
    if not any(plan.values()):
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise NotConfirmed("not removed: add --yes to remove them")
        answer = input("remove them? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "t", "tak"):
            raise NotConfirmed("not removed")
    with store.begin() as conn:
        done = thin(conn, raw_before, detail_before)
        hearings = forget_hearings(conn, hearings_before) if hearings_before else 0
    print(f"removed {done['telegrams']} raw telegrams, {done['readings']} sub-daily readings and {hearings} daily hearings")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("retention", help="thin raw telegrams and sub-daily readings")
    p.add_argument("--raw-days", type=int, help="drop raw telegrams older than this many days")
    p.add_argument("--detail-days", type=int, help="keep one reading per meter and day beyond this age")
    p.add_argument("--hearing-days", type=int, help="drop the daily hearings (coverage) older than this many days")
    p.add_argument("--yes", action="store_true", help="remove without asking")
    add_store_options(p)
    p.set_defaults(func=cmd_retention)
