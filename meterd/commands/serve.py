"""`meterd serve`: the IOK account view (tenant pages at /, staff pages at /staff, the JSON API under
/api/v1/). `--workers N` runs N server processes on the same port (uvicorn), for more than one core."""

from __future__ import annotations

import argparse
import os

from meterd.commands.storeopts import BadArgument, add_store_options, open_store

ENV_DATA, ENV_DB, ENV_CONFIG = "METERD_SERVE_DATA", "METERD_SERVE_DB", "METERD_SERVE_CONFIG"


def _app(store_args: argparse.Namespace, config_path: str | None):  # type: ignore[no-untyped-def]
    from meterd.config import load_config
    from meterd.web.app import create_app

    config = load_config(config_path) if config_path else None
    return create_app(open_store(store_args), smtp=config.smtp if config else None,
                      portal=config.portal if config else None)  # fmt: skip


def app_from_env():  # type: ignore[no-untyped-def]
    """The application of one worker process (uvicorn's factory), from what `meterd serve` put in the environment."""
    args = argparse.Namespace(data=os.environ.get(ENV_DATA) or None, db=os.environ.get(ENV_DB) or None)
    return _app(args, os.environ.get(ENV_CONFIG) or None)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not 0 < args.port < 65536:
        raise BadArgument(f"--port {args.port}: 1 to 65535")
    if not 1 <= args.workers <= 64:
        raise BadArgument(f"--workers {args.workers}: 1 to 64")
    app = _app(args, args.config)  # opened here as well: a wrong store or configuration fails before listening
    # idle connections are kept 75 s (nginx's default): a tenant reading the page for longer than
    # uvicorn's 5 s need not connect again for the next click
    # proxy_headers off: uvicorn would take X-Forwarded-For from any local peer; meterd takes it only
    # from the proxies named in [portal] trusted_proxies
    options = {"host": args.host, "port": args.port, "log_level": "warning", "server_header": False,
               "timeout_keep_alive": 75, "proxy_headers": False}  # fmt: skip
    import sys

    print(f"meterd serve: the account view on http://{args.host}:{args.port}/ ({args.workers} worker"
          f"{'s' if args.workers > 1 else ''}; staff pages at /staff, the API under /api/v1/)", file=sys.stderr,
          flush=True)  # fmt: skip
    if args.workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return 0
    os.environ[ENV_DATA] = args.data or ""
    os.environ[ENV_DB] = args.db or ""
    os.environ[ENV_CONFIG] = args.config or ""
    uvicorn.run("meterd.commands.serve:app_from_env", factory=True, workers=args.workers, **options)  # type: ignore[arg-type]
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="the account view: tenant and staff pages, the JSON API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--config", help="TOML configuration: [smtp] for login links, [portal] for their address")
    add_store_options(p)
    p.set_defaults(func=cmd_serve)
