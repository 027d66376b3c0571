"""`meterd import premises|keys FILE`: the housing register and the meters' AES keys, all or nothing."""

from __future__ import annotations

import argparse
from pathlib import Path

from meterd.commands.storeopts import add_store_options, open_store


def cmd_import(args: argparse.Namespace) -> int:
    from meterd.store.imports import import_keys, import_premises
    from meterd.textinput import check_encoding

    encoding = check_encoding(args.encoding)
    store = open_store(args)
    with store.begin() as conn:
        if args.kind == "premises":
            result = import_premises(conn, Path(args.file), replace=args.replace, encoding=encoding)
        else:
            result = import_keys(conn, store, Path(args.file), allow_insecure=args.insecure_keys, encoding=encoding)
    extra = ", ".join(f"{k} {v}" for k, v in result.created.items())
    print(f"imported {result.rows} rows from {args.file} (batch {result.batch_id}{', ' + extra if extra else ''})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("import", help="import premises/meters or keys from CSV (all or nothing)")
    p.add_argument("kind", choices=("premises", "keys"))
    p.add_argument("file")
    p.add_argument("--insecure-keys", action="store_true", help="accept a key file readable by others")
    p.add_argument(
        "--replace",
        action="store_true",
        help="premises: the file's assignments win over later ones the store knows (undoes recorded swaps)",
    )
    p.add_argument("--encoding", default="utf-8", help="file encoding: utf-8 (default, BOM allowed) or cp1250")
    add_store_options(p)
    p.set_defaults(func=cmd_import)
