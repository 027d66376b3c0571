"""Sessions, CSRF tokens and the page language of the account view.

A session comes from the login's HttpOnly cookie or `Authorization: Bearer TOKEN`. Every form carries
a CSRF token: bound to the session for a logged-in user (an HMAC of the session token under the
store's secret), bound to a random pre-session cookie on the login and link forms. An API request
that changes something and is authenticated by the cookie alone must send the token in
`X-CSRF-Token` (a request with a bearer token cannot be forged by another site)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import HTTPException, Request, Response

from meterd.store import Store
from meterd.store.accounts import AccountView, session_account
from meterd.web.deps import store_of

COOKIE = "meterd_session"
PRE_COOKIE = "meterd_pre"
LANG_COOKIE = "meterd_lang"
SECRET_STATE = "portal_csrf_secret"


def csrf_secret(store: Store) -> bytes:
    """The store's CSRF secret (made once, kept in the store so that every server process agrees)."""
    from meterd.store.state import get_state, put_state

    with store.begin() as conn:
        value = get_state(conn, SECRET_STATE)
        if not isinstance(value, str):
            put_state(conn, SECRET_STATE, secrets.token_hex(32))
            value = get_state(conn, SECRET_STATE)
    return bytes.fromhex(str(value))


def bearer_or_cookie(request: Request) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    return request.cookies.get(COOKIE), True


def lookup(request: Request) -> AccountView | None:
    token, _ = bearer_or_cookie(request)
    if not token or len(token) > 200:
        return None
    store = store_of(request)
    with store.begin() as conn:
        return session_account(conn, token)


def current(request: Request) -> AccountView:
    """The session's account; 401 without a valid session."""
    account = lookup(request)
    if account is None:
        token, _ = bearer_or_cookie(request)
        message = "the session has ended: log in again" if token else "log in first"
        raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})
    return account


def csrf_token(request: Request, session: str | None = None) -> str:
    """The CSRF token the forms of this page carry (for `session`, when it was just made)."""
    secret: bytes = request.app.state.csrf_secret
    session = session or request.cookies.get(COOKIE)
    if session:
        return hmac.new(secret, b"s:" + session.encode(), hashlib.sha256).hexdigest()[:40]
    pre = getattr(request.state, "pre_session", None) or request.cookies.get(PRE_COOKIE)
    if not pre or len(pre) > 100:
        pre = secrets.token_urlsafe(24)
        request.state.pre_session = pre  # set_pre_cookie hands it to the browser
    return hmac.new(secret, b"p:" + pre.encode(), hashlib.sha256).hexdigest()[:40]


def set_pre_cookie(request: Request, response: Response) -> None:
    pre = getattr(request.state, "pre_session", None)
    if pre:
        response.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/")  # fmt: skip


def csrf_ok(request: Request, sent: str | None) -> bool:
    if not sent or len(sent) > 100:
        return False
    return hmac.compare_digest(sent, csrf_token(request))


def require_api_csrf(request: Request) -> None:
    """403 for a cookie-authenticated API change without the page's X-CSRF-Token."""
    _, from_cookie = bearer_or_cookie(request)
    if from_cookie and not csrf_ok(request, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong X-CSRF-Token (send the token from the login answer)")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=_https(request),
                        max_age=8 * 3600, path="/")  # fmt: skip


def delete_session_cookie(request: Request, response: Response) -> None:
    """The session cookie removed with the flags it was set with (a browser may ignore a deletion that
    differs)."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_https(request))


def _https(request: Request) -> bool:
    portal = request.app.state.portal
    return request.url.scheme == "https" or bool(portal.url and portal.url.startswith("https://"))


def page_lang(request: Request, account: AccountView | None = None) -> str:
    """?lang= first, then the language cookie, then the account's, else Polish."""
    for choice in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), account.lang if account else None):
        if choice in ("pl", "en"):
            return choice
    return "pl"


def client_address(request: Request) -> str:
    """The client's address: the peer's, or, when the peer is a proxy named in `[portal] trusted_proxies`,
    the nearest address in X-Forwarded-For that is not such a proxy (the ones before it could be made up)."""
    peer = request.client.host if request.client else "?"
    trusted = request.app.state.trusted_proxies
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def trusted_networks(names: list[str]) -> list[Any]:
    import ipaddress

    return [ipaddress.ip_network(n, strict=False) for n in names]


def _trusted(address: str, networks: list[Any]) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def staff_only(request: Request) -> AccountView | Response:
    """The staff account of the request, or the answer for anyone else (to the login; 403 for tenants)."""
    from fastapi.responses import HTMLResponse, RedirectResponse

    account = lookup(request)
    if account is None:
        return RedirectResponse("/", status_code=303)
    if account.role != "staff":
        return HTMLResponse("<!doctype html><title>403</title><p>Tylko dla obsługi / staff only</p>", status_code=403)
    return account
