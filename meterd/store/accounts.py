"""Portal accounts and their sessions. A session token is random (32 bytes), handed to the browser or
the API client once; the store keeps its SHA-256 and when it expires."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from meterd.store.models import Account, PortalSession, Premises
from meterd.store.passwords import hash_password, needs_rehash, verify_password

SESSION_S = 8 * 3600


@dataclass(frozen=True)
class AccountView:
    id: int
    login: str
    role: str
    premises: tuple[str, ...]  # premises codes the account may see


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def authenticate(conn: Connection, login: str, password: str) -> int | None:
    """The account id for a right login and password, else None (the same time spent either way)."""
    row = conn.execute(select(Account.id, Account.password_hash).where(Account.login == login)).first()
    if row is None:
        verify_password(password, _DUMMY)  # a login that does not exist costs as much as a wrong password
        return None
    if not verify_password(password, row[1]):
        return None
    if needs_rehash(row[1]):
        conn.execute(update(Account).where(Account.id == row[0]).values(password_hash=hash_password(password)))
    return int(row[0])


def new_session(conn: Connection, account_id: int, ttl_s: int = SESSION_S, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    token = secrets.token_urlsafe(32)
    conn.execute(insert(PortalSession).values(token_hash=_digest(token), account_id=account_id, created_at=now,
                                              expires_at=now + ttl_s))  # fmt: skip
    conn.execute(delete(PortalSession).where(PortalSession.expires_at < now))  # the expired go
    return token


def session_account(conn: Connection, token: str, now: int | None = None) -> AccountView | None:
    now = int(time.time()) if now is None else now
    row = conn.execute(
        select(Account.id, Account.login, Account.role, Premises.code)
        .join(PortalSession, PortalSession.account_id == Account.id)
        .join(Premises, Premises.id == Account.premises_id, isouter=True)
        .where(PortalSession.token_hash == _digest(token), PortalSession.expires_at > now)
    ).first()
    if row is None:
        return None
    return AccountView(int(row[0]), str(row[1]), str(row[2]), (str(row[3]),) if row[3] is not None else ())


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(PortalSession).where(PortalSession.token_hash == _digest(token)))


_DUMMY = hash_password("not a password of anyone")
