"""The account view as a FastAPI application: the routers (the JSON API of meterd.web.api, the tenant
pages of meterd.web.pages, the staff pages of meterd.web.staff and the pages of their own modules), the
guard middleware, the error answers, the mail queue's thread; the store and the portal's settings are
what the routers' dependencies (meterd.web.deps) hand them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from meterd import __version__
from meterd.store import Store
from meterd.web import data
from meterd.web.rendering import TEMPLATES
from meterd.web.security import csrf_secret, trusted_networks

if TYPE_CHECKING:
    from meterd.config import PortalSection, SmtpSection

DAY = 86400


def create_app(store: Store, *, smtp: SmtpSection | None = None, portal: PortalSection | None = None) -> FastAPI:
    from meterd.config import PortalSection
    from meterd.web.guard import Guard

    portal = portal or PortalSection()
    app = FastAPI(title="meterd account view", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=mail_worker(store, smtp, portal))  # fmt: skip
    app.add_middleware(Guard, public_url=portal.url)
    app.state.store = store
    app.state.smtp = smtp
    app.state.portal = portal
    app.state.trusted_proxies = trusted_networks(portal.trusted_proxies)
    app.state.csrf_secret = csrf_secret(store)
    warm_up(store)

    from meterd.web.api import router as api
    from meterd.web.coverage import router as coverage
    from meterd.web.meter_history import router as meter_history
    from meterd.web.pages import router as pages
    from meterd.web.staff import router as staff
    from meterd.web.statements import router as statements
    from meterd.web.tenant_readings import router as tenant_readings
    from meterd.web.worklist import router as worklist

    app.include_router(api)
    app.include_router(pages)
    app.include_router(staff)
    app.include_router(worklist)
    app.include_router(tenant_readings)
    app.include_router(meter_history)
    app.include_router(statements)
    app.include_router(coverage)

    @app.exception_handler(RequestValidationError)
    def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()[:5]]  # fmt: skip
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    def unexpected(_request: Request, _exc: Exception) -> JSONResponse:  # never a traceback to the client
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return app


def mail_worker(store: Store, smtp: SmtpSection | None, portal: PortalSection):  # type: ignore[no-untyped-def]
    """The server's lifespan: with [smtp], a thread that sends the mail queue (login links) every few
    seconds, retrying what the mail server did not take."""
    import contextlib
    import logging
    import threading

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        stop = threading.Event()
        thread = None
        if smtp is not None:
            from meterd.web.links import send_queued

            def work() -> None:
                while not stop.wait(MAIL_EVERY_S):
                    try:
                        send_queued(store, smtp, portal, int(time.time()))
                    except Exception as e:  # the store away: try again next time
                        logging.getLogger("meterd.web").error("mail queue: %s", e)

            thread = threading.Thread(target=work, name="mail-queue", daemon=True)
            thread.start()
        yield
        stop.set()
        if thread is not None:
            thread.join(5)

    return lifespan


MAIL_EVERY_S = 2.0


def warm_up(store: Store) -> None:
    """Compile the templates and the statements of a request once, before the first tenant comes: else
    the first requests after a start compile them in every server thread at once (a second's wait)."""
    from sqlalchemy import select

    from meterd.store.accounts import dummy_hash, session_account
    from meterd.store.models import Premises

    dummy_hash()  # a failed login for an unknown name costs the same from the first one on
    for name in ("base.html", "login.html", "account.html", "link.html"):
        TEMPLATES.get_template(name)
    now = int(time.time())
    with store.begin() as conn:
        session_account(conn, "warm-up: no such session")
        code = conn.execute(select(Premises.code).limit(1)).scalar()
        if code is None:
            return
        periods = [(0, 2**62)]
        data.meters(conn, code, periods, now)
        data.readings(conn, code, periods, now - 31 * DAY, now)
        data.use(conn, code, periods, now - 62 * DAY, now, "month")
        data.notices(conn, code, periods, now)


