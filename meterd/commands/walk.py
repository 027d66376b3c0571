"""`meterd walk ROUTE --dongle D --port P`: walk a route with a laptop and a dongle.

The gateway's own pipeline (receiver, decoder with the store's keys, deduplication, the store in
batches of a fifth of a second) with one more sink: the route's progress, shown live. Every reading
is stored as it is heard, so a laptop that dies loses nothing; a dongle pulled out is reopened when it
comes back. `q` (or SIGTERM) ends the walk with a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from meterd.commands.storeopts import BadArgument, add_store_options, open_store
from meterd.drivers.dongles import NAMES as DONGLE_NAMES

if TYPE_CHECKING:
    from meterd.reading import Reading
    from meterd.sinks.base import Sink
    from meterd.store import Store


@contextlib.contextmanager
def _keys(stop: threading.Event) -> Iterator[None]:
    """`q` on the terminal ends the walk (the terminal is put back as it was)."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def watch() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready and os.read(fd, 1) in (b"q", b"Q"):
                stop.set()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(1)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class RouteHeardSink:
    """Keeps in the store the earliest receive time the walk heard one of the route's meters, so the
    route's export counts a replayed capture older than the route's import as read."""

    def __init__(self, store: Store, route: str, meters: set[str]) -> None:
        self.store, self.route, self.meters = store, route, meters
        self.earliest: int | None = None

    def write(self, batch: Sequence[Reading]) -> None:
        from meterd.store.routes import note_heard

        first = min((r.received_at for r in batch if r.meter.id in self.meters), default=None)
        if first is not None and (self.earliest is None or first < self.earliest):
            self.earliest = first
            with self.store.begin() as conn:
                note_heard(conn, self.route, self.earliest)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def cmd_walk(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from sqlalchemy import select as sql_select

    from meterd.config import Config, GatewaySection, ReceiverSection
    from meterd.coverage.hearing import HearingKind
    from meterd.gateway.service import Gateway
    from meterd.setup import build_decoder
    from meterd.store.keys import current_keys
    from meterd.store.models import Meter
    from meterd.store.routes import route_stops
    from meterd.walk.bundle import walk_gateway
    from meterd.walk.progress import ProgressSink, RouteProgress
    from meterd.walk.screen import render
    from meterd.walk.words import locale_lang

    # warnings would scribble over the live screen: they go to --log, and only errors to the terminal
    level = logging.WARNING if args.log else logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", filename=args.log)
    if not args.pace >= 0:
        raise BadArgument(f"--pace must be 0 or more, not {args.pace}")
    store = open_store(args)
    with store.begin() as conn:
        _, stops = route_stops(conn, args.route)
        q3 = {serial: float(q) for serial, q in conn.execute(sql_select(Meter.serial, Meter.q3_m3h)).all()}
    progress = RouteProgress(args.route, stops, q3, lang=args.lang or locale_lang(os.environ))
    receiver = ReceiverSection(name=args.dongle, dongle=args.dongle, port=args.port, mode=args.mode, source="walkby",
                               pace=args.pace)  # fmt: skip
    config = Config(gateway=GatewaySection(name=walk_gateway(args.route), validate_every_s=0,
                                           batch_interval_s=0.2), receivers=[receiver])  # fmt: skip

    def make_decoder():  # type: ignore[no-untyped-def]
        decoder = build_decoder(argparse.Namespace(keys=args.keys, config=None, insecure_keys=args.insecure_keys))
        with store.begin() as conn:
            for (maker, serial), key in current_keys(conn, store).items():
                if not decoder.keys.has(serial, maker):  # a key file's key wins over the store's
                    decoder.keys.add(serial, key, maker)
        return decoder

    sinks: list[Sink] = [ProgressSink(progress), RouteHeardSink(store, args.route, {s.meter for s in stops})]
    gateway = Gateway(config, store, make_decoder, sinks, hearing_kind=HearingKind.WALK)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console = Console()
    with _keys(stop), Live(render(progress), console=console, refresh_per_second=4, screen=console.is_terminal,
                           get_renderable=lambda: render(progress)):  # fmt: skip
        runner = threading.Thread(target=gateway.run, args=(stop,), name="walk-pipeline", daemon=True)
        runner.start()
        while runner.is_alive():
            runner.join(0.2)
    if not console.is_terminal:
        print()
    print(progress.summary())
    store.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("walk", help="walk a route: live progress while a dongle hears the meters")
    p.add_argument("route", help="the route id (meterd route import)")
    p.add_argument("--dongle", required=True, choices=DONGLE_NAMES)
    p.add_argument("--port", required=True, help="serial port (or, for hex, a capture file or FIFO)")
    p.add_argument("--mode", default="c1,t1")
    p.add_argument("--keys", help="CSV meter_id,key in addition to the store's keys")
    p.add_argument("--insecure-keys", action="store_true")
    p.add_argument("--pace", type=float, default=0.0,
                   help="for --dongle hex: replay a capture at this many times its recorded pace (0 = at once)")
    p.add_argument("--lang", choices=("pl", "en"), help="language of the screen (default: from the locale, LANG)")
    p.add_argument("--log", help="write warnings to this file instead of the screen")
    add_store_options(p)
    p.set_defaults(func=cmd_walk)
