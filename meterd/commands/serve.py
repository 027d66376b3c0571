"""`meterd serve`: the IOK account view (tenant pages at /, the JSON API under /api/v1/)."""

from __future__ import annotations

import argparse

from meterd.commands.storeopts import BadArgument, add_store_options, open_store


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from meterd.web.app import create_app

    if not 0 < args.port < 65536:
        raise BadArgument(f"--port {args.port}: 1 to 65535")
    app = create_app(open_store(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="the account view: tenant pages and the JSON API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    add_store_options(p)
    p.set_defaults(func=cmd_serve)
