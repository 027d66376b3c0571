"""`meterd db upgrade|status`: create, upgrade or inspect the store's schema."""

from __future__ import annotations

import argparse

from meterd.commands.storeopts import add_store_options, open_store


def cmd_db(args: argparse.Namespace) -> int:
    from meterd.store.engine import current_revision, head_revision

    store = open_store(args, check=False, new_ok=args.action == "upgrade")
    if args.action == "upgrade":
        before, after = store.upgrade()
        print(f"schema {before or '(empty)'} -> {after}" if before != after else f"schema already at {after}")
        return 0
    from meterd.store.engine import check_schema

    current, head = current_revision(store.engine), head_revision()
    print(f"store {store}: schema {current or '(empty)'}, this meterd needs {head}")
    check_schema(store.engine)  # a newer or foreign schema is an error with its own words
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="create, upgrade or inspect the store's schema")
    p.add_argument("action", choices=("upgrade", "status"))
    add_store_options(p)
    p.set_defaults(func=cmd_db)
