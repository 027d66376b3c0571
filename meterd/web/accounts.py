"""The session use cases of the account view, shared by the API and the pages: logging in (with the
slow-down and limits of failed attempts), asking for a login link, giving or withdrawing consent."""

from __future__ import annotations

import time

from fastapi import HTTPException, Request

from meterd.store import Store
from meterd.store.accounts import AccountView, audit, authenticate, new_session, set_consent
from meterd.web.security import client_address


def login(store: Store, request: Request, name: str, password: str) -> str:
    """A new session's token; 401 for a wrong login or password, 429 after too many failures."""
    from meterd.web.limits import Attempt, TooMany, before_login, failed_login, succeeded_login

    attempt = Attempt(name, client_address(request))
    with store.begin() as conn:
        try:
            delay = before_login(conn, attempt, int(time.time()))
        except TooMany as e:
            raise HTTPException(429, f"too many failed logins: try again in {e.retry_after} s",
                                headers={"Retry-After": str(e.retry_after)}) from None  # fmt: skip
    if delay:
        time.sleep(delay)  # someone failed on this login or from this address: slower, never locked
    with store.begin() as conn:
        account_id = authenticate(conn, name, password)
        if account_id is None:
            failed_login(conn, attempt, int(time.time()))
        else:
            succeeded_login(conn, attempt)
            return new_session(conn, account_id)
    raise HTTPException(401, "wrong login or password")


def send_login_link(store: Store, request: Request, email: str) -> None:
    """Queue a one-time login link for the account with this address (nothing when there is none)."""
    from meterd.web.links import request_login_link

    with store.begin() as conn:
        request_login_link(conn, email, client_address(request), int(time.time()))


def change_consent(store: Store, request: Request, account: AccountView, consent: bool) -> None:
    """Give or withdraw consent to notices by e-mail (audited); 409 without an e-mail address."""
    if consent and not account.email:
        raise HTTPException(409, "no e-mail address on the account: notices cannot be sent")
    with store.begin() as conn:
        set_consent(conn, account.id, consent)
        audit(conn, account, "consent_given" if consent else "consent_withdrawn", address=client_address(request))
