"""One-time login links by e-mail: the first login of an account made by an operator, or a forgotten
password. The link opens a page that sets the password and logs in; it works once, for `link_hours`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

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
    url = f"{portal.base_url}/link/{token}"
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


def request_login_link(conn: Connection, email: str, address: str, now: int) -> None:
    """Queue a login link for the accounts with this address: the same work whether or not an account
    has it, and nothing said about it (the answer is 202 whatever happens)."""
    from meterd.store.mail_queue import enqueue
    from meterd.web.limits import link_allowed

    if link_allowed(conn, email, address, now):
        enqueue(conn, "login_link", email.strip().lower(), now)


def send_queued(store: Store, smtp: SmtpSection, portal: PortalSection, now: int) -> tuple[int, int]:
    """Send what the queue holds that is due: (sent, failed now). Addresses no account has are done
    without mail."""
    from meterd.store.mail_queue import again_later, claim, due, finish

    sent = failed = 0
    with store.begin() as conn:
        items = [item for item in due(conn, now) if claim(conn, item, now)]
    for item in items:
        with store.begin() as conn:
            accounts = conn.execute(
                select(Account.id, Account.login, Account.email).where(func.lower(Account.email) == item.address)
            ).all()
            mails = [link_mail(portal, str(login), str(to), new_link(conn, int(aid), portal.link_hours * 3600))
                     for aid, login, to in accounts if to]  # fmt: skip
            if not mails:
                finish(conn, item, now, "no account has this address")
                continue
        try:
            errors = [error for _, error in Mailer(smtp).send_all(mails) if error is not None]
        except MailError as e:
            errors = [e.message]
        if errors:
            failed += 1
            with store.begin() as conn:
                again_later(conn, item, now, errors[0])
            continue
        sent += len(mails)
        with store.begin() as conn:
            finish(conn, item, now)
    return sent, failed
