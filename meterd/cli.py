"""Command line: `meterd <command>`. Each command lives in its own module of meterd.commands; this
module builds the parser and turns every error into one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from meterd import __version__
from meterd.errors import MeterdError

COMMANDS = ("decode", "analyze", "listen", "probe", "check", "db", "import_", "ingest", "report", "export", "run",
            "retention", "keys", "demo", "mbus", "prepaid", "route", "walk", "serve", "account", "notices", "files")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="meterd", description="Water-meter readings from wM-Bus / M-Bus meters.")
    parser.add_argument("--version", action="version", version=f"meterd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"meterd.commands.{name}").register(sub)
    return parser


def _store_error(e: Exception) -> MeterdError | None:
    """A database error as one line (no SQL, no parameters), when SQLAlchemy is in use at all."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(e, SQLAlchemyError):
        return None
    from meterd.store.engine import StoreError, describe

    return StoreError(describe(e))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
        return result
    except MeterdError as e:
        return _fail(e)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as e:  # stdout on a full disk, a vanished terminal: one line, not a traceback
        _quiet_stdout()
        return _fail(MeterdError(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")))
    except Exception as e:
        store_error = _store_error(e)
        if store_error is None:
            raise
        return _fail(store_error)


def _fail(e: MeterdError) -> int:
    with contextlib.suppress(OSError):
        print(f"meterd: error [{e.code}]: {e.message}", file=sys.stderr)
    return 2


def _quiet_stdout() -> None:
    """After a failed write to stdout, make the interpreter's final flush harmless."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
