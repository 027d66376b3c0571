"""`meterd prepaid sell|ledger`: credit sold for prepaid meters, through the vending system's tokens."""

from __future__ import annotations

import argparse
import csv
import sys
import time

from meterd.commands.storeopts import BadArgument, add_store_options, open_store


def cmd_prepaid(args: argparse.Namespace) -> int:
    from meterd.jsonio import dumps
    from meterd.reading import iso
    from meterd.store.prepaid import Sale, record_sale, sales

    store = open_store(args)
    if args.action == "ledger":
        with store.begin() as conn:
            rows = sales(conn, args.meter)
        fields = ("meter_id", "amount", "currency", "sold_at", "sold_by", "vendor_ref")
        writer = csv.writer(sys.stdout, lineterminator="\n") if args.format == "csv" else None
        if writer is not None:
            writer.writerow(fields)
        for s in rows:  # tokens stay in the ledger: they are credit, not for listing
            values = (s.meter, f"{s.amount:.2f}", s.currency, iso(s.sold_at), s.sold_by, s.vendor_ref)
            if writer is not None:
                writer.writerow(values)
            else:
                sys.stdout.write(dumps(dict(zip(fields, values, strict=True))).decode() + "\n")
        return 0
    from meterd.prepaid.tokens import grouped, normalise_token
    from meterd.prepaid.vending import FileVending

    if args.meter is None or args.amount is None:
        raise BadArgument("prepaid sell needs --meter and --amount")
    if (args.token is None) == (args.vending is None):
        raise BadArgument("prepaid sell needs --token (issued by the vending system) or --vending FILE")
    if not 0 < args.amount <= 100_000:
        raise BadArgument(f"--amount {args.amount}: give more than 0 and at most 100000")
    if args.token is not None:
        token, ref = normalise_token(args.token), "manual"
    else:
        issued = FileVending(args.vending).issue(args.meter, args.amount)
        token, ref = issued.token, issued.vendor_ref
    sale = Sale(args.meter, round(args.amount, 2), args.currency, int(time.time()), args.by, token, ref)
    with store.begin() as conn:
        record_sale(conn, sale)
    print(f"meter {args.meter}: {sale.amount:.2f} {sale.currency} sold, token {grouped(token)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("prepaid", help="prepaid meters: sell credit (a vending token), list the ledger")
    p.add_argument("action", choices=("sell", "ledger"))
    p.add_argument("--meter", help="meter id")
    p.add_argument("--amount", type=float, help="sell: credit in currency units")
    p.add_argument("--currency", default="PLN")
    p.add_argument("--token", help="sell: the 20-digit token the vending system issued")
    p.add_argument("--vending", help="sell: a CSV of tokens the vending system exported (meter_id,amount,token)")
    p.add_argument("--by", default="", help="sell: who sold it")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="ledger: csv (default) or jsonl")
    add_store_options(p)
    p.set_defaults(func=cmd_prepaid)
