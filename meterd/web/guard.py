"""What every request and answer of the account view passes through (a plain ASGI middleware):

- a request for a host other than the one of `[portal] url` (when set) is refused (400), so no link or
  redirect is ever built from a forged Host header;
- a request body over 1 MiB (a form with a file: 5 MiB) is answered 413 before it is read whole: by its
  Content-Length when it gives one, else as soon as the bytes that came pass the limit; a JSON body
  nested deeper than any of the API's (16 levels) is answered 422 before the parser sees it;
- every answer carries a Content-Security-Policy without scripts of any kind (the pages have none),
  `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, a Referrer-Policy, and HSTS when served
  over https; every answer of the API and every page gets `Cache-Control: no-store` unless it set
  its own (they hold personal data);
- a redirect to this server's own host is made relative.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_MAX = 1 << 20
UPLOAD_MAX = 5 << 20
JSON_DEPTH_MAX = 16
CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")


class Guard:
    def __init__(self, app: App, public_url: str | None = None) -> None:
        self.app = app
        self.host = urlsplit(public_url).netloc.lower() if public_url else None
        self.https = bool(public_url and public_url.startswith("https://"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.host is not None and host != self.host:
            await _answer(send, 400, "unknown host")
            return
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = UPLOAD_MAX if multipart else BODY_MAX
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _answer(send, 413, f"the request body is larger than {limit >> 20} MiB")
            return
        body = await _read(receive, limit)
        if body is None:
            await _answer(send, 413, f"the request body is larger than {limit >> 20} MiB")
            return
        if body and headers.get(b"content-type", b"").startswith(b"application/json") and too_deep(body):
            await _answer(send, 422, f"the JSON body is nested deeper than {JSON_DEPTH_MAX} levels")
            return
        https = self.https or scope.get("scheme") == "https"
        personal = scope.get("path", "").startswith(("/api/", "/staff", "/link"))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                out += HEADERS + ([HSTS] if https else [])
                names = {k.lower() for k, _ in out}
                if personal and b"cache-control" not in names:
                    out.append((b"cache-control", b"no-store"))
                out = [(k, _relative(v, host) if k.lower() == b"location" else v) for k, v in out]
                message["headers"] = out
            await send(message)

        await self.app(scope, replay, send_with_headers)


_OURS = {k for k, _ in HEADERS} | {HSTS[0]}


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (what came is dropped)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(parts)


def too_deep(body: bytes, most: int = JSON_DEPTH_MAX) -> bool:
    """Whether JSON text nests arrays and objects deeper than `most` (strings skipped; the text need not
    be valid JSON: the parser judges that afterwards)."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > most:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _relative(location: bytes, host: str) -> bytes:
    """An absolute redirect to this server's own host, as a path: never a link built from a Host header."""
    text = location.decode("latin-1")
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc.lower() == host:
        return (parts.path or "/").encode("latin-1") + (b"?" + parts.query.encode("latin-1") if parts.query else b"")
    return location


async def _answer(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *HEADERS]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
