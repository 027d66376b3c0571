"""`meterd keys rotate-kek` re-seals every stored meter key under a new key-encryption key;
`meterd keys new-kek --out FILE` writes a new KEK for a store that has none yet (a systemd credential)."""

from __future__ import annotations

import argparse

from meterd.commands.storeopts import add_store_options, open_store


def cmd_keys(args: argparse.Namespace) -> int:
    from meterd.store.keys import rotate_kek

    if args.action == "new-kek":
        from pathlib import Path

        from meterd.commands.storeopts import BadArgument
        from meterd.store.sealing import Kek

        if not args.out:
            raise BadArgument("new-kek needs --out FILE (e.g. /etc/meterd/kek)")
        if Path(args.out).exists():
            raise BadArgument(f"{args.out} exists; a KEK is never overwritten (rotate-kek replaces one in use)")
        Kek.generate(Path(args.out))
        print(f"new key-encryption key written to {args.out} (mode 600); keep a copy apart from the store")
        return 0
    store = open_store(args)
    n = rotate_kek(store)
    print(f"{n} meter keys sealed under a new key-encryption key in {store.kek_path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="manage the key-encryption key of the stored meter keys")
    p.add_argument("action", choices=("rotate-kek", "new-kek"))
    p.add_argument("--out", help="new-kek: the file to write")
    add_store_options(p)
    p.set_defaults(func=cmd_keys)
