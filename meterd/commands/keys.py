"""`meterd keys rotate-kek`: re-seal every stored meter key under a new key-encryption key."""

from __future__ import annotations

import argparse

from meterd.commands.storeopts import add_store_options, open_store


def cmd_keys(args: argparse.Namespace) -> int:
    from meterd.store.keys import rotate_kek

    store = open_store(args)
    n = rotate_kek(store)
    print(f"{n} meter keys sealed under a new key-encryption key in {store.kek_path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="manage the key-encryption key of the stored meter keys")
    p.add_argument("action", choices=("rotate-kek",))
    add_store_options(p)
    p.set_defaults(func=cmd_keys)
