"""Portal accounts, the premises they hold for a period (tenancies), their sessions and one-time login
links. A session or link token is random (32 bytes), handed out once; the store keeps its SHA-256."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from meterd.errors import MeterdError
from meterd.store.models import Account, AuditEntry, LoginLink, PortalSession, Premises, Tenancy
from meterd.store.passwords import hash_password, needs_rehash, verify_password

SESSION_S = 8 * 3600
LINK_S = 72 * 3600
ROLES = ("tenant", "staff")
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{1,63}$")
EMAIL_RE = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
OPEN = 2**62  # the end of a tenancy that has not ended


class AccountError(MeterdError):
    code = "bad_account"


@dataclass(frozen=True, slots=True)
class Tenure:
    """A premises an account may see, over [start, end)."""

    premises: str
    start: int
    end: int


@dataclass(frozen=True)
class AccountView:
    id: int
    login: str
    role: str
    tenures: tuple[Tenure, ...]
    email: str = ""
    lang: str = "pl"
    consent_notices: bool = False
    consent_at: int | None = None

    @property
    def premises(self) -> tuple[str, ...]:
        """The premises codes the account may see (each once, in order)."""
        return tuple(dict.fromkeys(t.premises for t in self.tenures))

    def periods(self, code: str) -> list[tuple[int, int]]:
        return [(t.start, t.end) for t in self.tenures if t.premises == code]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_login(login: str) -> str:
    if not LOGIN_RE.match(login):
        raise AccountError(f"login {login!r}: 2 to 64 letters, digits or . _ @ + -, starting with a letter or digit")
    return login


def check_email(email: str) -> str:
    if email and not EMAIL_RE.match(email):
        raise AccountError(f"e-mail {email!r} is not an address")
    return email


def add_account(conn: Connection, login: str, *, email: str = "", name: str = "", role: str = "tenant",
                password: str | None = None, lang: str = "pl", now: int | None = None) -> int:  # fmt: skip
    """A new account; without a password it can only log in through a one-time link."""
    check_login(login)
    check_email(email)
    if role not in ROLES:
        raise AccountError(f"role {role!r}: one of {', '.join(ROLES)}")
    if lang not in ("pl", "en"):
        raise AccountError(f"language {lang!r}: pl or en")
    if conn.execute(select(Account.id).where(func.lower(Account.login) == login.lower())).first() is not None:
        raise AccountError(f"login {login!r} exists already")
    if password:
        check_password(password, login, email)
    now = int(time.time()) if now is None else now
    return int(
        conn.execute(
            insert(Account)
            .values(login=login, email=email, name=name[:200], role=role, lang=lang, created_at=now,
                    password_hash=hash_password(password) if password else "")
            .returning(Account.id)
        ).scalar_one()
    )


def account_id(conn: Connection, login: str) -> int:
    aid = conn.execute(select(Account.id).where(Account.login == login)).scalar()
    if aid is None:
        raise AccountError(f"no account {login!r}")
    return int(aid)


def grant(conn: Connection, aid: int, premises: str, start: int, end: int | None = None) -> None:
    """The account holds `premises` over [start, end); overlapping periods of the same premises are refused."""
    pid = conn.execute(select(Premises.id).where(Premises.code == premises)).scalar()
    if pid is None:
        raise AccountError(f"no premises {premises!r} in the register")
    if end is not None and end <= start:
        raise AccountError(f"tenancy of {premises}: the end must lie after the start")
    clash = conn.execute(
        select(Tenancy.id).where(
            Tenancy.account_id == aid, Tenancy.premises_id == pid, Tenancy.valid_from < (end if end is not None else OPEN),
            (Tenancy.valid_to.is_(None)) | (Tenancy.valid_to > start),
        )
    ).first()  # fmt: skip
    if clash is not None:
        raise AccountError(f"the account holds {premises} in that period already")
    conn.execute(insert(Tenancy).values(account_id=aid, premises_id=pid, valid_from=start, valid_to=end))


def end_tenancy(conn: Connection, aid: int, premises: str, at: int) -> None:
    """End the account's open tenancy of `premises` at `at`: it keeps seeing the time before."""
    row = conn.execute(
        select(Tenancy.id, Tenancy.valid_from)
        .join(Premises, Premises.id == Tenancy.premises_id)
        .where(Tenancy.account_id == aid, Premises.code == premises, Tenancy.valid_to.is_(None))
    ).first()
    if row is None:
        raise AccountError(f"the account holds no open tenancy of {premises!r}")
    if at <= row[1]:
        raise AccountError(f"tenancy of {premises}: the end must lie after its start")
    conn.execute(update(Tenancy).where(Tenancy.id == row[0]).values(valid_to=at))


class WeakPassword(AccountError):
    code = "weak_password"

    def __init__(self, reason: str) -> None:
        super().__init__(WEAK_REASONS.get(reason, reason))
        self.reason = reason  # short, long, login, guessable (meterd.store.password_rules)


WEAK_REASONS = {
    "short": "a password has at least 10 characters",
    "long": "a password has at most 256 characters",
    "login": "a password must not be the login or the e-mail address",
    "guessable": "the password is too easy to guess (a common password, a word, a sequence or a repeat)",
}


def account_names(conn: Connection, aid: int) -> tuple[str, str]:
    """An account's login and e-mail address."""
    row = conn.execute(select(Account.login, Account.email).where(Account.id == aid)).first()
    if row is None:
        raise AccountError(f"no account {aid}")
    return str(row[0]), str(row[1] or "")


def check_password(password: str, login: str, email: str = "") -> None:
    """WeakPassword when the password is not good enough (see meterd.store.password_rules)."""
    from meterd.store.password_rules import weakness

    reason = weakness(password, login, email)
    if reason is not None:
        raise WeakPassword(reason)


def set_password(conn: Connection, aid: int, password: str, *, keep_session: str | None = None,
                 now: int | None = None) -> None:  # fmt: skip
    """A new password (checked); every session of the account but `keep_session` ends, and every
    one-time link of it not used yet stops working."""
    check_password(password, *account_names(conn, aid))
    now = int(time.time()) if now is None else now
    conn.execute(update(Account).where(Account.id == aid).values(password_hash=hash_password(password)))
    ended = delete(PortalSession).where(PortalSession.account_id == aid)
    if keep_session is not None:
        ended = ended.where(PortalSession.token_hash != _digest(keep_session))
    conn.execute(ended)
    conn.execute(update(LoginLink).where(LoginLink.account_id == aid, LoginLink.used_at.is_(None)).values(used_at=now))


def set_consent(conn: Connection, aid: int, consent: bool, now: int | None = None) -> None:
    now = int(time.time()) if now is None else now
    conn.execute(update(Account).where(Account.id == aid).values(consent_notices=consent, consent_at=now))


def set_lang(conn: Connection, aid: int, lang: str) -> None:
    if lang in ("pl", "en"):
        conn.execute(update(Account).where(Account.id == aid).values(lang=lang))


def authenticate(conn: Connection, login: str, password: str) -> int | None:
    """The account id for a right login and password, else None (the same time spent either way)."""
    row = conn.execute(select(Account.id, Account.password_hash).where(Account.login == login)).first()
    if row is None or not row[1]:
        verify_password(password, dummy_hash())  # a login that does not exist costs as much as a wrong password
        return None
    if not verify_password(password, row[1]):
        return None
    if needs_rehash(row[1]):
        conn.execute(update(Account).where(Account.id == row[0]).values(password_hash=hash_password(password)))
    return int(row[0])


def new_session(conn: Connection, aid: int, ttl_s: int = SESSION_S, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    token = secrets.token_urlsafe(32)
    conn.execute(insert(PortalSession).values(token_hash=_digest(token), account_id=aid, created_at=now,
                                              expires_at=now + ttl_s))  # fmt: skip
    conn.execute(delete(PortalSession).where(PortalSession.expires_at < now))  # the expired go
    return token


_VIEW = select(Account.id, Account.login, Account.role, Account.email, Account.lang, Account.consent_notices,
               Account.consent_at).where(Account.id == bindparam("aid"))  # fmt: skip
_TENURES = (
    select(Premises.code, Tenancy.valid_from, Tenancy.valid_to)
    .join(Premises, Premises.id == Tenancy.premises_id)
    .where(Tenancy.account_id == bindparam("aid"))
    .order_by(Premises.code, Tenancy.valid_from)
)
_SESSION = select(PortalSession.account_id).where(
    PortalSession.token_hash == bindparam("digest"), PortalSession.expires_at > bindparam("now")
)


def view(conn: Connection, aid: int) -> AccountView | None:
    row = conn.execute(_VIEW, {"aid": aid}).first()
    if row is None:
        return None
    tenures = conn.execute(_TENURES, {"aid": aid}).all()
    return AccountView(
        int(row[0]), str(row[1]), str(row[2]),
        tuple(Tenure(str(c), int(s), int(e) if e is not None else OPEN) for c, s, e in tenures),
        str(row[3] or ""), str(row[4] or "pl"), bool(row[5]), row[6],
    )  # fmt: skip


def session_account(conn: Connection, token: str, now: int | None = None) -> AccountView | None:
    now = int(time.time()) if now is None else now
    aid = conn.execute(_SESSION, {"digest": _digest(token), "now": now}).scalar()
    return None if aid is None else view(conn, int(aid))


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(PortalSession).where(PortalSession.token_hash == _digest(token)))


def new_link(conn: Connection, aid: int, ttl_s: int = LINK_S, now: int | None = None) -> str:
    """A one-time login link's token (for the e-mail); links not used before stay valid until they expire."""
    now = int(time.time()) if now is None else now
    token = secrets.token_urlsafe(32)
    conn.execute(insert(LoginLink).values(token_hash=_digest(token), account_id=aid, created_at=now,
                                          expires_at=now + ttl_s))  # fmt: skip
    conn.execute(delete(LoginLink).where(LoginLink.expires_at < now - 30 * 86400))
    return token


def link_account(conn: Connection, token: str, now: int | None = None) -> int | None:
    """The account of a link that is valid and unused, else None (nothing changes)."""
    now = int(time.time()) if now is None else now
    aid = conn.execute(
        select(LoginLink.account_id).where(
            LoginLink.token_hash == _digest(token), LoginLink.expires_at > now, LoginLink.used_at.is_(None)
        )
    ).scalar()
    return None if aid is None else int(aid)


def use_link(conn: Connection, token: str, now: int | None = None) -> int | None:
    """Spend the link: its account, once; None if it was used, expired or never existed."""
    now = int(time.time()) if now is None else now
    aid = link_account(conn, token, now)
    if aid is None:
        return None
    done = conn.execute(
        update(LoginLink).where(LoginLink.token_hash == _digest(token), LoginLink.used_at.is_(None)).values(used_at=now)
    ).rowcount
    return aid if done == 1 else None  # a second request racing for the same link gets nothing


def audit(conn: Connection, actor: AccountView, action: str, *, premises: str = "", meter: str = "",
          detail: str = "", address: str = "", now: int | None = None) -> None:  # fmt: skip
    conn.execute(
        insert(AuditEntry).values(at=int(time.time()) if now is None else now, actor=actor.login, role=actor.role,
                                  action=action, premises=premises, meter=meter, detail=detail[:300],
                                  address=address[:64])
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: int
    actor: str
    role: str
    action: str
    premises: str
    meter: str
    detail: str
    address: str


def audit_log(conn: Connection, since: int = 0, premises: str | None = None, limit: int = 1000) -> list[AuditRow]:
    q = select(AuditEntry.at, AuditEntry.actor, AuditEntry.role, AuditEntry.action, AuditEntry.premises,
               AuditEntry.meter, AuditEntry.detail, AuditEntry.address).where(AuditEntry.at >= since)  # fmt: skip
    if premises is not None:
        q = q.where(AuditEntry.premises == premises)
    rows = conn.execute(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()
    return [AuditRow(int(r[0]), *(str(x) for x in r[1:])) for r in rows]


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, made on first use (not at import: commands that never check a
    password should not pay for it); the web app makes it at start-up."""
    return hash_password("not a password of anyone")


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One row of an account file: the account, and one premises it holds over [start, end)."""

    line: int
    login: str
    email: str
    name: str
    role: str
    premises: str
    start: int
    end: int | None


ACCOUNT_COLUMNS = {"login", "premises_id"}


def parse_account_file(path: Path, encoding: str = "utf-8") -> list[AccountRow]:
    """Columns login, premises_id and optionally email, name, role, from, to (a login on several rows
    holds several premises or periods). Any bad row refuses the file, naming each as FILE:LINE."""
    from meterd.store.imports import ImportError_, _rows
    from meterd.times import parse_time

    out: list[AccountRow] = []
    problems: list[str] = []
    for line, row in _rows(path, ACCOUNT_COLUMNS, encoding):
        login, email, role = row["login"], row.get("email", ""), (row.get("role") or "tenant").lower()
        premises = row["premises_id"]
        try:
            check_login(login)
            check_email(email)
            if role not in ROLES:
                raise AccountError(f"role {role[:20]!r}: one of {', '.join(ROLES)}")
            if role == "tenant" and not premises:
                raise AccountError("premises_id: a tenant needs one")
            if len(premises) > 64:
                raise AccountError("premises_id: at most 64 characters")
            start, end = 0, None
            for key in ("from", "to"):
                text = row.get(key, "")
                if not text:
                    continue
                try:
                    t = parse_time(text if "T" in text else text + "T00:00:00+00:00")
                except (ValueError, OverflowError):
                    raise AccountError(f"{key} {text[:30]!r} is not a date (YYYY-MM-DD)") from None
                if key == "from":
                    start = t
                else:
                    end = t
            if end is not None and end <= start:
                raise AccountError("to must lie after from")
        except AccountError as e:
            problems.append(f"{path}:{line}: {e.message}")
            continue
        out.append(AccountRow(line, login, email, row.get("name", "")[:200], role, premises, start, end))
    if problems:
        raise ImportError_(f"{path}: {len(problems)} bad rows, nothing imported", problems)
    if not out:
        raise ImportError_(f"{path}: no accounts")
    return out


def import_accounts(conn: Connection, path: Path, rows: list[AccountRow]) -> tuple[int, int]:
    """(accounts created, tenancies granted); an account that exists gets the new tenancies. All or nothing:
    the caller's transaction is rolled back on the first problem, which names the row."""
    from meterd.store.imports import ImportError_

    created = granted = 0
    ids: dict[str, int] = {}
    for r in rows:
        try:
            aid = ids.get(r.login.lower())
            if aid is None:
                found = conn.execute(select(Account.id).where(func.lower(Account.login) == r.login.lower())).scalar()
                if found is None:
                    aid = add_account(conn, r.login, email=r.email, name=r.name, role=r.role)
                    created += 1
                else:
                    aid = int(found)
                ids[r.login.lower()] = aid
            if r.premises:
                grant(conn, aid, r.premises, r.start, r.end)
                granted += 1
        except AccountError as e:
            raise ImportError_(f"{path}:{r.line}: {e.message}; nothing imported") from None
    return created, granted
