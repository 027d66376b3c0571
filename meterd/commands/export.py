"""`meterd export billing`: the reading of every premises' meters at a cut-off date, as CSV."""

from __future__ import annotations

import argparse
import sys

from meterd.commands.storeopts import add_store_options, open_store, parse_when


def cmd_export(args: argparse.Namespace) -> int:
    from meterd.fileio import atomic_text, check_target
    from meterd.store.queries import export_billing

    cutoff = parse_when(args.cutoff, "--cutoff")
    to_file = bool(args.out and args.out != "-")
    if to_file:
        from pathlib import Path

        check_target(Path(args.out))
    store = open_store(args)
    with store.begin() as conn:
        if to_file:  # written beside the target and renamed over it: a failure leaves the old file whole
            with atomic_text(args.out, newline="") as f:
                n = export_billing(conn, cutoff, f, interpolate=not args.no_interpolate)
            print(f"{n} rows written to {args.out}", file=sys.stderr)
        else:
            export_billing(conn, cutoff, sys.stdout, interpolate=not args.no_interpolate)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="billing export: readings at a cut-off date per premises (CSV)")
    p.add_argument("what", choices=("billing",))
    p.add_argument("--cutoff", required=True, help="YYYY-MM-DD (UTC midnight) or ISO 8601")
    p.add_argument("--out", help="file (default: stdout)")
    p.add_argument("--no-interpolate", action="store_true", help="last reading before the cut-off only")
    add_store_options(p)
    p.set_defaults(func=cmd_export)
