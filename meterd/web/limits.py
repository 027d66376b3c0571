"""Failed-login limits of the account view, kept in the store (meterd.store.limits), so that every server
process counts the same.

Within WINDOW_S (15 minutes):
- one address that failed 5 times on one login is refused for that login (429) until the oldest of
  those failures leaves the window: guessing one tenant's password from one place stops;
- a login that failed 5 times (from anywhere) is slowed, never locked: every attempt waits a moment
  longer (at most MAX_DELAY_S), so an attacker cannot lock the real tenant out of a correct login;
- an address that failed 5 times (on any logins) is slowed the same way, and refused after 50: many
  tenants behind one address (a company network, a proxy not named in `[portal] trusted_proxies`)
  are not locked out by a few typos, and spraying passwords over many logins stays slow.

Login-link requests are limited per e-mail address (3 an hour) and per client address (20 an hour);
beyond that the request is answered as always (202) and nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from meterd.store import limits

WINDOW_S = 900
PAIR_MOST = 5
SLOW_AFTER = 5
ADDRESS_MOST = 50
MAX_DELAY_S = 3.0
LINK_WINDOW_S = 3600
LINK_PER_EMAIL = 3
LINK_PER_ADDRESS = 20


class TooMany(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    login: str
    address: str

    @property
    def keys(self) -> tuple[str, str, str]:
        name = self.login.lower()
        return f"login:{name}", f"addr:{self.address}", f"pair:{name}|{self.address}"


def before_login(conn: Connection, attempt: Attempt, now: int) -> float:
    """Seconds to wait before checking the password; TooMany when this attempt is refused."""
    login_key, addr_key, pair_key = attempt.keys
    found = limits.counts(conn, attempt.keys, now - WINDOW_S)
    for key, most in ((pair_key, PAIR_MOST), (addr_key, ADDRESS_MOST)):
        n, oldest = found[key]
        if n >= most:
            raise TooMany(max(1, oldest + WINDOW_S - now))
    slow = max(found[login_key][0], found[addr_key][0]) - SLOW_AFTER + 1
    return min(MAX_DELAY_S, 0.5 * slow) if slow > 0 else 0.0


def failed_login(conn: Connection, attempt: Attempt, now: int) -> None:
    limits.record(conn, attempt.keys, now)


def succeeded_login(conn: Connection, attempt: Attempt) -> None:
    """The right password: this address's failures on this login are forgotten (not the login's own:
    those were someone else's, perhaps)."""
    limits.forget(conn, [attempt.keys[2]])


def link_allowed(conn: Connection, email: str, address: str, now: int) -> bool:
    """Whether a login-link request may send mail; counts it either way."""
    keys = (f"link:{email.strip().lower()}", f"link-addr:{address}")
    found = limits.counts(conn, keys, now - LINK_WINDOW_S)
    limits.record(conn, keys, now)
    return found[keys[0]][0] < LINK_PER_EMAIL and found[keys[1]][0] < LINK_PER_ADDRESS
