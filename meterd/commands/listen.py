"""`meterd listen`: receive telegrams and print one JSON line each (docs/interfaces.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import UTC
from typing import IO, TYPE_CHECKING, Any

import orjson

from meterd.drivers.frame import Frame, FramingError
from meterd.drivers.pacing import paced

if TYPE_CHECKING:  # the decoder and the metrics load when the command runs
    from meterd.wmbus import Decoded, Decoder


def frame_json(decoded: Decoded, frame: Frame) -> dict[str, Any]:
    """The decode object plus reception metadata; undecodable telegrams still print, with their error."""
    out = decoded.to_dict()
    out["rssi_dbm"] = frame.rssi_dbm
    at = frame.received_at
    if at.utcoffset():
        at = at.astimezone(UTC)
    out["received_at"] = at.isoformat().replace("+00:00", "Z")
    out["dongle"] = frame.dongle
    if not decoded.ok:
        out["telegram"] = frame.data.hex().upper()
    return out


def emit(decoder: Decoder, items: Iterator[Frame | FramingError], out: IO[bytes]) -> None:
    """Print each frame's object; dropped input is logged here and counted by the receiver that dropped it."""
    from meterd.metrics import count_decoded

    for item in items:
        if isinstance(item, FramingError):
            print(f"meterd: dropped input [{item.code}]: {item.message}", file=sys.stderr)
            continue
        decoded = decoder.decode_bytes(item.data)
        count_decoded((decoded,), item.dongle, item.dongle)
        out.write(orjson.dumps(frame_json(decoded, item)) + b"\n")
        out.flush()


def install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


from meterd.drivers.names import DONGLES  # noqa: E402


def cmd_listen(args: argparse.Namespace) -> int:
    from meterd.config import load_config
    from meterd.drivers.registry import open_receiver
    from meterd.drivers.serial_port import PortSettings
    from meterd.errors import MeterdError
    from meterd.setup import build_decoder

    config = load_config(args.config)
    receiver = config.receiver
    dongle, port = args.dongle or receiver.dongle, args.port or receiver.port
    if not dongle or not port:
        raise MeterdError("name the receiver: --dongle and --port, or [receiver] dongle and port in --config")
    if dongle not in DONGLES:
        raise MeterdError(f"unknown dongle {dongle!r}; known: {', '.join(DONGLES)}")
    if args.pace < 0:
        raise MeterdError(f"--pace {args.pace}: give 0 (as fast as possible) or a positive speed")
    decoder = build_decoder(args, config)
    stop = threading.Event()
    install_stop_handlers(stop)
    counters: dict[str, int] = {}
    settings = PortSettings(silence_timeout_s=receiver.silence_timeout_s)
    mode = args.mode or receiver.mode
    frames = open_receiver(dongle, port, mode, stop, counters, settings, receiver.framer_options(dongle))
    emit(decoder, paced(frames, args.pace, stop), sys.stdout.buffer)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("listen", help="receive telegrams and print JSON lines")
    p.add_argument(
        "--port", help="serial port, /dev/serial/by-id/..., a capture file, or - for stdin (default: [receiver] port)"
    )
    p.add_argument("--dongle", choices=DONGLES, help="receiver type (default: [receiver] dongle)")
    p.add_argument("--mode", help="link mode: t1, c1 or c1,t1 (default: [receiver] mode, else c1,t1)")
    p.add_argument("--keys", help="CSV with header meter_id,key")
    p.add_argument("--insecure-keys", action="store_true", help="load a key file readable by others")
    p.add_argument("--pace", type=float, default=0.0, help="replay captures at N × recorded pace (0 = fast)")
    p.add_argument("--config", help="TOML configuration ([receiver] settings, [drivers] per-meter vendor decoder)")
    p.set_defaults(func=cmd_listen)
