"""`meterd probe`: which wM-Bus dongle answers on which serial port."""

from __future__ import annotations

import argparse


def cmd_probe(args: argparse.Namespace) -> int:
    import glob

    from serial.tools import list_ports

    from meterd.config import load_config
    from meterd.drivers.serial_port import probe

    ports = args.ports or sorted({p.device for p in list_ports.comports()} | set(glob.glob("/dev/serial/by-id/*")))
    exclude = set(args.exclude or []) | set(load_config(args.config).receiver.exclude_ports)
    if not ports:
        print("no serial ports found")
        return 0
    for path, dongle, description in probe(ports, exclude, args.timeout):
        print(f"{path}\t{dongle}\t{description or ''}")
    for path in sorted(exclude & set(ports)):
        print(f"{path}\texcluded\t")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("probe", help="list serial ports and identify the wM-Bus dongle on each")
    p.add_argument("ports", nargs="*", help="ports to probe (default: all serial ports and /dev/serial/by-id)")
    p.add_argument("--exclude", action="append", help="never touch this port (repeatable)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each answer")
    p.add_argument("--config", help="TOML configuration ([receiver] exclude_ports)")
    p.set_defaults(func=cmd_probe)
