"""`meterd mbus scan|read`: the wired M-Bus master on a serial port (a level converter, 8E1)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from meterd.commands.storeopts import BadArgument
from meterd.jsonio import dumps

if TYPE_CHECKING:
    from meterd.wmbus import Decoded, Decoder


def merged(decoder: Decoder, frames: list[bytes]) -> Decoded:
    """The decoded readout (a multi-telegram readout is one reading)."""
    from meterd.wmbus.result import merge_readout

    return merge_readout([decoder.decode_bytes(f) for f in frames])


def _addresses(text: str) -> range:
    first, _, last = text.partition("-")
    try:
        span = range(int(first), int(last or first) + 1)
    except ValueError:
        raise BadArgument(f"--addresses {text!r}: give N or N-M") from None
    if not span or span.start < 0 or span.stop > 251:
        raise BadArgument(f"--addresses {text!r}: primary addresses are 0 to 250")
    return span


class Progress:
    """Each meter's line on stdout the moment it is found (flushed, into a pipe too); on a terminal, how
    far the scan is on stderr, on one line."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.tty = err.isatty()
        self.count = 0
        self._shown = False

    def found(self, line: str) -> None:
        self.count += 1
        self._clear()
        print(line, flush=True)

    def addresses(self, done: int, total: int) -> None:
        self._show(f"address {done} of {total}, {self.count} found")

    def masks(self, done: int, known: int) -> None:
        self._show(f"search {done} of {known} so far, {self.count} found")

    def done(self) -> None:
        self._clear()
        if self.tty:
            self.err.write(f"scan done: {self.count} found\n")

    def _show(self, text: str) -> None:
        if self.tty:
            self.err.write(f"\r{text}\x1b[K")
            self.err.flush()
            self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._shown = False


def cmd_mbus(args: argparse.Namespace) -> int:
    from meterd.drivers import mbus_master as master
    from meterd.drivers.mbus_frames import ADDRESS_SELECTED, PRIMARY_ADDRESSES
    from meterd.drivers.mbus_port import MbusPort
    from meterd.wmbus import Decoder, Telegram

    if not 0 <= args.margin_ms <= 5000:
        raise BadArgument(f"--margin-ms {args.margin_ms}: give 0 to 5000")
    addresses = _addresses(args.addresses) if args.addresses else PRIMARY_ADDRESSES
    decoder = Decoder()
    with MbusPort(args.port, args.baud, args.margin_ms / 1000) as port:
        if args.action == "scan":
            progress = Progress(sys.stderr)

            def secondary(slave: master.Found) -> None:
                t = decoder.decode_bytes(slave.frames[0])
                found: dict[str, object] = {"secondary_id": slave.secondary_id}
                if isinstance(t, Telegram):
                    found.update(manufacturer=t.manufacturer, version=t.version, device_type=t.device_type, medium=t.medium)
                else:
                    found.update(dict.fromkeys(("manufacturer", "version", "device_type", "medium")))
                progress.found(dumps(found).decode())

            def primary(address: int, state: str) -> None:
                line: dict[str, Any] = {"address": address}
                if state != "ok":
                    line["collision"] = True  # two slaves share the address
                progress.found(dumps(line).decode())

            if args.secondary:
                port.run(master.scan_secondary(on_found=secondary, on_progress=progress.masks))
            else:
                port.run(master.scan_primary(addresses, on_found=primary, on_progress=progress.addresses))
            progress.done()
            return 0
        if (args.address is None) == (args.secondary_id is None):
            raise BadArgument("mbus read needs --address N or --secondary-id ID")
        if args.secondary_id is not None:
            ident = args.secondary_id.upper()
            if len(ident) != 8 or not ident.isdigit():
                raise BadArgument(f"--secondary-id {args.secondary_id!r}: 8 digits")
            port.run(master.select(ident))
            frames = port.run(master.read(ADDRESS_SELECTED))
        else:
            if args.address not in PRIMARY_ADDRESSES:
                raise BadArgument(f"--address {args.address}: a primary address is 0 to 250")
            frames = port.run(master.read(args.address))
        sys.stdout.write(merged(decoder, frames).to_json().decode() + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("mbus", help="wired M-Bus: find the meters on a bus, read one")
    p.add_argument("action", choices=("scan", "read"))
    p.add_argument("--port", required=True, help="serial port of the M-Bus level converter")
    p.add_argument("--baud", type=int, default=2400, choices=(300, 2400, 9600))
    p.add_argument("--secondary", action="store_true", help="scan: search by secondary address")
    p.add_argument("--addresses", help="scan: primary addresses N-M (default 0-250)")
    p.add_argument("--margin-ms", type=int, default=150,
                   help="wait this much longer than the standard's answer time (USB adapters; default 150)")  # fmt: skip
    p.add_argument("--address", type=int, help="read: primary address 0-250")
    p.add_argument("--secondary-id", help="read: secondary address (8 digits)")
    p.set_defaults(func=cmd_mbus)
