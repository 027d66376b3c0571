"""The pages' templates and how a page is answered: the words of its language, the CSRF token of its
forms, no caching; and the name of a download (RFC 6266). Every router renders through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from meterd.web.i18n import t
from meterd.web.security import LANG_COOKIE, csrf_token, set_pre_cookie

DAY = 86_400
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# a path segment, every character that is not plainly safe quoted (a premises id can never end a
# segment or climb out of it)
TEMPLATES.env.filters["seg"] = lambda value: quote(str(value), safe="")


def render(request: Request, name: str, lang: str, context: dict[str, Any], status: int = 200) -> Response:
    def tr(key: str, **values: object) -> str:
        return t(lang, key, **values)

    ctx = {"lang": lang, "t": tr, "csrf": csrf_token(request), "path": request.url.path, **context}
    response = TEMPLATES.TemplateResponse(request, name, ctx, status_code=status)
    set_pre_cookie(request, response)
    if request.query_params.get("lang") in ("pl", "en"):
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * DAY, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def attachment(name: str) -> str:
    """A Content-Disposition for a download (RFC 6266): the name in UTF-8, and an ASCII fallback for
    old clients (letters outside ASCII and anything that could end the quoted string become `_`)."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
