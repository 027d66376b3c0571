"""`meterd notices send`: e-mail tenants who consented their flats' notices (a suspected leak, missing
readings; each at most once a day) and last month's consumption information (once), as planned by
meterd.mailing (run it from a timer, e.g. hourly); and send what waits in the mail queue (login links
the server could not send yet)."""

from __future__ import annotations

import argparse
import time

from meterd.commands.storeopts import BadArgument, add_store_options, open_store


def cmd_notices(args: argparse.Namespace) -> int:
    from meterd.config import load_config
    from meterd.mail import Mailer
    from meterd.mailing import plan, record_sent
    from meterd.web.links import send_queued

    config = load_config(args.config)
    if config.smtp is None and not args.dry_run:
        raise BadArgument(f"{args.config}: no [smtp] table: notices cannot be sent (or use --dry-run)")
    now = int(time.time())
    store = open_store(args)
    with store.begin() as conn:
        plans = plan(conn, config.portal, now)
    if args.dry_run:
        for p in plans:
            print(f"{p.mail.to}: {len(p.keys)} notices ({', '.join(p.keys)})")
        print(f"{len(plans)} e-mails would be sent")
        return 0
    assert config.smtp is not None
    links, links_failed = send_queued(store, config.smtp, config.portal, now)
    if links or links_failed:
        print(f"{links} login links sent from the queue, {links_failed} to try again later")
    results = Mailer(config.smtp).send_all([p.mail for p in plans]) if plans else []
    went = []
    for p, (_, error) in zip(plans, results, strict=True):
        if error is not None:
            print(f"{p.mail.to}: not sent: {error}")
        else:
            went.append(p)
    with store.begin() as conn:
        record_sent(conn, went, now)
    failed = len(plans) - len(went)
    print(f"{len(went)} e-mails sent, {failed} failed")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("notices", help="e-mail notices (suspected leak, missing readings) to tenants who consented")
    p.add_argument("action", choices=("send",))
    p.add_argument("--config", required=True, help="TOML configuration with [smtp] and [portal]")
    p.add_argument("--dry-run", action="store_true", help="say who would get what; send nothing")
    add_store_options(p)
    p.set_defaults(func=cmd_notices)
