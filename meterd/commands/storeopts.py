"""What the store commands share: `--data DIR` / `--db URL`, opening the store, dates on the command line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from meterd.errors import MeterdError

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported only by the commands that use it
    from meterd.store import Store


class BadArgument(MeterdError):
    code = "bad_argument"


def add_store_options(p: argparse.ArgumentParser) -> None:
    """--data DIR / --db URL, as every store command takes them."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data", help="data directory holding the SQLite store (default: $METERD_DATA or ./data)")
    g.add_argument("--db", help="SQLAlchemy database URL, e.g. postgresql://host/db (default: $METERD_DATABASE_URL)")


def open_store(args: argparse.Namespace, *, check: bool = True, create: bool = False, new_ok: bool = False) -> Store:
    """The store of --data / --db. A --data directory that does not exist is refused (a typo must not
    make an empty store) unless the command makes stores (`create`: the schema made or upgraded too;
    `new_ok`: the directory may be new)."""
    import os

    from meterd.store import Store
    from meterd.store.engine import data_dir

    data, db = getattr(args, "data", None), getattr(args, "db", None)
    if data is None and db is None:
        db = os.environ.get("METERD_DATABASE_URL") or None
    if db is None and not (create or new_ok):
        folder = data_dir(data)
        if not folder.is_dir():
            given = f"--data {data}" if data is not None else f"the data directory {folder} (no --data given)"
            raise BadArgument(f"{given}: no such directory, so no store; a store is made by "
                              f"`meterd db upgrade --data {folder}` (or `meterd demo --data {folder}`)")  # fmt: skip
    return Store.open(data, db, check=check, create=create)


def parse_when(text: str, option: str) -> int:
    """A date (UTC midnight) or an ISO 8601 time given on the command line, as epoch seconds."""
    from meterd.times import parse_time

    try:
        t = parse_time(text if "T" in text else text + "T00:00:00+00:00")
        datetime.fromtimestamp(t, UTC)
    except (ValueError, OverflowError, OSError):
        raise BadArgument(f"{option} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if not 946_684_800 <= t <= 4_102_444_800:  # 2000 .. 2100
        raise BadArgument(f"{option} {text!r} is outside 2000-01-01 .. 2100-01-01")
    return t


def iso_minute(t: int | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
