"""What meterd mails tenants who consented, planned from the store: the notices of their flats (a
suspected leak, missing readings) at most once a local day each, and last month's consumption
information once per flat and month. `meterd notices send` sends the plan (meterd.mail) and records
what went out; the words are in both languages in meterd.web.i18n."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Connection, select

from meterd.config import PortalSection
from meterd.mail import Mail
from meterd.store.accounts import view
from meterd.store.ingest import insert_ignore
from meterd.store.models import Account, NoticeSent, Premises
from meterd.store.notices import Notice, premises_notices
from meterd.web.i18n import LOCAL, notice_text, t
from meterd.web.statements import mail_text, month_bounds, previous_month, statement

MAILED_KINDS = ("leak", "missing")


@dataclass(frozen=True)
class Planned:
    account_id: int
    mail: Mail
    keys: list[str]  # what it holds (notice keys, `statement:FLAT:YYYY-MM`): recorded once it went out


def local_day(now: int) -> int:
    """Days since 1970-01-01 of the local date (a notice goes out at most once a local day)."""
    return (datetime.fromtimestamp(now, LOCAL).date() - datetime(1970, 1, 1).date()).days


def plan(conn: Connection, portal: PortalSection, now: int) -> list[Planned]:
    day = local_day(now)
    year, month = previous_month(now)
    _, month_end = month_bounds(year, month)
    addresses = {str(c): str(a or "") for c, a in conn.execute(select(Premises.code, Premises.address)).all()}
    out: list[Planned] = []
    ids = conn.execute(select(Account.id).where(Account.consent_notices.is_(True), Account.email != "")).scalars()
    for aid in list(ids):
        account = view(conn, int(aid))
        if account is None:
            continue
        lang = account.lang
        footer = t(lang, "mail_footer", url=portal.base_url)
        sent = set(conn.execute(select(NoticeSent.notice).where(NoticeSent.account_id == aid,
                                                                NoticeSent.day == day)).scalars())  # fmt: skip
        fresh: list[Notice] = []
        for tn in account.tenures:
            if tn.start <= now < tn.end:
                fresh += [n for n in premises_notices(conn, tn.premises, now, portal.missing_days, tn.start, tn.end)
                          if n.kind in MAILED_KINDS and n.key not in sent]  # fmt: skip
        if fresh:
            lines = [notice_text(lang, n) for n in fresh]
            out.append(Planned(int(aid), Mail(account.email, t(lang, "mail_notice_subject"),
                                              "\n\n".join([*lines, "--", footer]) + "\n"), [n.key for n in fresh]))  # fmt: skip
        ever = set(conn.execute(select(NoticeSent.notice).where(NoticeSent.account_id == aid,
                                                                NoticeSent.notice.like("statement:%"))).scalars())  # fmt: skip
        for code in sorted({tn.premises for tn in account.tenures if tn.start < month_end <= tn.end}):
            st = statement(conn, code, account.periods(code), year, month)
            if st is None or st.key in ever or not st.lines:
                continue
            link = f"{portal.base_url}/statement/{quote(code)}/{year:04d}-{month:02d}"
            label = f"{month:02d}.{year}" if lang == "pl" else f"{year}-{month:02d}"
            text = mail_text(lang, st, addresses.get(code, ""), link) + "--\n" + footer + "\n"
            out.append(Planned(int(aid), Mail(account.email, t(lang, "mail_statement_subject", month=label, flat=code), text),
                               [st.key]))  # fmt: skip
    return out


def record_sent(conn: Connection, sent: list[Planned], now: int) -> None:
    """What went out, so that it does not go out again (the day's notices, the month's statement)."""
    day = local_day(now)
    insert_ignore(conn, NoticeSent.__tablename__, ("account_id", "notice", "day", "sent_at"),
                  [(p.account_id, key, day, now) for p in sent for key in p.keys])  # fmt: skip
