"""`meterd notices send`: e-mail tenants who consented when a leak is suspected or readings went
missing in their flat, each notice at most once a day (run it from a timer, e.g. hourly); and send
what waits in the mail queue (login links the server could not send yet)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from meterd.commands.storeopts import BadArgument, add_store_options, open_store

MAILED_KINDS = ("leak", "missing")


def cmd_notices(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from meterd.config import load_config
    from meterd.mail import Mail, Mailer
    from meterd.store.accounts import view
    from meterd.store.ingest import insert_ignore
    from meterd.store.models import Account, NoticeSent
    from meterd.store.notices import Notice, premises_notices
    from meterd.web.i18n import LOCAL, notice_text

    config = load_config(args.config)
    if config.smtp is None and not args.dry_run:
        raise BadArgument(f"{args.config}: no [smtp] table: notices cannot be sent (or use --dry-run)")
    now = int(time.time())
    day = (datetime.fromtimestamp(now, LOCAL).date() - datetime(1970, 1, 1).date()).days
    store = open_store(args)
    plans: list[tuple[int, Mail, list[Notice]]] = []
    with store.begin() as conn:
        ids = conn.execute(select(Account.id).where(Account.consent_notices.is_(True), Account.email != "")).scalars()
        for aid in list(ids):
            account = view(conn, int(aid))
            if account is None:
                continue
            sent = set(conn.execute(select(NoticeSent.notice).where(NoticeSent.account_id == aid,
                                                                    NoticeSent.day == day)).scalars())  # fmt: skip
            fresh: list[Notice] = []
            for t in account.tenures:
                if t.start <= now < t.end:
                    fresh += [n for n in premises_notices(conn, t.premises, now, config.portal.missing_days, t.start, t.end)
                              if n.kind in MAILED_KINDS and n.key not in sent]  # fmt: skip
            if fresh:
                lang = account.lang
                subject = "IOK: komunikat o wodomierzu" if lang == "pl" else "IOK: water meter notice"
                lines = [notice_text(lang, n) for n in fresh]
                footer = ("Zgodę na powiadomienia możesz wycofać na stronie: " if lang == "pl"
                          else "You can withdraw your consent to notices at: ") + config.portal.base_url  # fmt: skip
                plans.append((int(aid), Mail(account.email, subject, "\n\n".join([*lines, "--", footer]) + "\n"), fresh))
    if args.dry_run:
        for _, mail, fresh in plans:
            print(f"{mail.to}: {len(fresh)} notices ({', '.join(n.key for n in fresh)})")
        print(f"{len(plans)} e-mails would be sent")
        return 0
    assert config.smtp is not None
    from meterd.web.links import send_queued

    links, links_failed = send_queued(store, config.smtp, config.portal, now)
    if links or links_failed:
        print(f"{links} login links sent from the queue, {links_failed} to try again later")
    results = Mailer(config.smtp).send_all([m for _, m, _ in plans]) if plans else []
    failed = 0
    with store.begin() as conn:
        for (aid, mail, fresh), (_, error) in zip(plans, results, strict=True):
            if error is not None:
                failed += 1
                print(f"{mail.to}: not sent: {error}")
                continue
            insert_ignore(conn, NoticeSent.__tablename__, ("account_id", "notice", "day", "sent_at"),
                          [(aid, n.key, day, now) for n in fresh])  # fmt: skip
    print(f"{len(plans) - failed} e-mails sent, {failed} failed")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("notices", help="e-mail notices (suspected leak, missing readings) to tenants who consented")
    p.add_argument("action", choices=("send",))
    p.add_argument("--config", required=True, help="TOML configuration with [smtp] and [portal]")
    p.add_argument("--dry-run", action="store_true", help="say who would get what; send nothing")
    add_store_options(p)
    p.set_defaults(func=cmd_notices)
