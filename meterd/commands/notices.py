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
    from urllib.parse import quote

    from sqlalchemy import select

    from meterd.config import load_config
    from meterd.mail import Mail, Mailer
    from meterd.store.accounts import view
    from meterd.store.ingest import insert_ignore
    from meterd.store.models import Account, NoticeSent, Premises
    from meterd.store.notices import Notice, premises_notices
    from meterd.web.i18n import LOCAL, notice_text
    from meterd.web.statements import mail_text, month_bounds, previous_month, statement

    config = load_config(args.config)
    if config.smtp is None and not args.dry_run:
        raise BadArgument(f"{args.config}: no [smtp] table: notices cannot be sent (or use --dry-run)")
    now = int(time.time())
    day = (datetime.fromtimestamp(now, LOCAL).date() - datetime(1970, 1, 1).date()).days
    store = open_store(args)
    plans: list[tuple[int, Mail, list[str]]] = []  # (account, its mail, the keys of what it holds)
    year, month = previous_month(now)
    _, month_end = month_bounds(year, month)
    with store.begin() as conn:
        addresses = {str(c): str(a or "") for c, a in conn.execute(select(Premises.code, Premises.address)).all()}
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
            lang = account.lang
            footer = ("Zgodę na powiadomienia możesz wycofać na stronie: " if lang == "pl"
                      else "You can withdraw your consent to notices at: ") + config.portal.base_url  # fmt: skip
            if fresh:
                subject = "IOK: komunikat o wodomierzu" if lang == "pl" else "IOK: water meter notice"
                lines = [notice_text(lang, n) for n in fresh]
                plans.append((int(aid), Mail(account.email, subject, "\n\n".join([*lines, "--", footer]) + "\n"),
                              [n.key for n in fresh]))  # fmt: skip
            # last month's consumption information, once per flat and month (whatever the day)
            ever = set(conn.execute(select(NoticeSent.notice).where(NoticeSent.account_id == aid,
                                                                    NoticeSent.notice.like("statement:%"))).scalars())  # fmt: skip
            for code in sorted({tn.premises for tn in account.tenures if tn.start < month_end <= tn.end}):
                st = statement(conn, code, account.periods(code), year, month)
                if st is None or st.key in ever or not st.lines:
                    continue
                link = f"{config.portal.base_url}/statement/{quote(code)}/{year:04d}-{month:02d}"
                subject = (f"IOK: zużycie wody za {month:02d}.{year}, lokal {code}" if lang == "pl"
                           else f"IOK: water use in {year}-{month:02d}, flat {code}")  # fmt: skip
                text = mail_text(lang, st, addresses.get(code, ""), link) + "--\n" + footer + "\n"
                plans.append((int(aid), Mail(account.email, subject, text), [st.key]))
    if args.dry_run:
        for _, mail, keys in plans:
            print(f"{mail.to}: {len(keys)} notices ({', '.join(keys)})")
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
        for (aid, mail, keys), (_, error) in zip(plans, results, strict=True):
            if error is not None:
                failed += 1
                print(f"{mail.to}: not sent: {error}")
                continue
            insert_ignore(conn, NoticeSent.__tablename__, ("account_id", "notice", "day", "sent_at"),
                          [(aid, key, day, now) for key in keys])  # fmt: skip
    print(f"{len(plans) - failed} e-mails sent, {failed} failed")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("notices", help="e-mail notices (suspected leak, missing readings) to tenants who consented")
    p.add_argument("action", choices=("send",))
    p.add_argument("--config", required=True, help="TOML configuration with [smtp] and [portal]")
    p.add_argument("--dry-run", action="store_true", help="say who would get what; send nothing")
    add_store_options(p)
    p.set_defaults(func=cmd_notices)
