"""One-time login links by e-mail: the first login of an account made by an operator, or a forgotten
password. The link opens a page that sets the password and logs in; it works once, for `link_hours`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException
from sqlalchemy import func, select

from meterd.mail import Mail, Mailer, MailError
from meterd.store.accounts import new_link
from meterd.store.models import Account

if TYPE_CHECKING:
    from meterd.config import PortalSection, SmtpSection
    from meterd.store import Store

SUBJECT = "IOK: link logowania / login link"
BODY = """Dzień dobry,

aby ustawić hasło i zalogować się do odczytów wodomierzy w IOK, otwórz ten link
(ważny {hours} h, działa jeden raz):

{url}

Jeśli to nie Ty prosiłeś o link, zignoruj tę wiadomość.

---
Hello,

to set your password and log in to your water meter readings in IOK, open the link
above (valid for {hours} h, works once). If you did not ask for it, ignore this message.

Login / login: {login}
"""


def link_mail(portal: PortalSection, login: str, email: str, token: str) -> Mail:
    url = f"{portal.url.rstrip('/')}/link/{token}"
    return Mail(email, SUBJECT, BODY.format(url=url, hours=portal.link_hours, login=login))


def invite(store: Store, smtp: SmtpSection, portal: PortalSection, login: str) -> str:
    """Mail the account its link; returns the address it went to."""
    from meterd.store.accounts import AccountError, account_id

    with store.begin() as conn:
        aid = account_id(conn, login)
        email = conn.execute(select(Account.email).where(Account.id == aid)).scalar_one()
        if not email:
            raise AccountError(f"account {login!r} has no e-mail address")
        token = new_link(conn, aid, portal.link_hours * 3600)
    Mailer(smtp).send(link_mail(portal, login, email, token))
    return str(email)


def mail_login_link(store: Store, smtp: SmtpSection | None, portal: PortalSection, email: str) -> None:
    """A link to every account with this address; nothing (and the same answer) for an unknown one."""
    if smtp is None:
        raise HTTPException(503, "e-mail is not configured on this server: ask the office for a login")
    with store.begin() as conn:
        accounts = conn.execute(
            select(Account.id, Account.login, Account.email).where(func.lower(Account.email) == email.strip().lower())
        ).all()
        mails = [link_mail(portal, str(login), str(to), new_link(conn, int(aid), portal.link_hours * 3600))
                 for aid, login, to in accounts if to]  # fmt: skip
    if mails:
        try:
            Mailer(smtp).send_all(mails)
        except MailError:
            raise HTTPException(503, "the e-mail could not be sent now: try again later") from None
