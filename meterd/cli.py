"""Command line: `meterd <command>`. Heavy modules are imported inside commands to keep start-up fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from meterd import __version__
from meterd.errors import MeterdError

if TYPE_CHECKING:  # pydantic is imported only by the commands that read a configuration
    from meterd.config import Config


def _decoder(args: argparse.Namespace, config: Config | None = None):  # type: ignore[no-untyped-def]
    """The decoder for --keys and --config; `config` when the command has already loaded it."""
    from meterd.keyfile import load_keys
    from meterd.wmbus import Decoder
    from meterd.wmbus.keys import normalise_meter_id
    from meterd.wmbus.vendors import default_registry

    key_file = getattr(args, "keys", None)
    registry = default_registry()
    if config is None and getattr(args, "config", None) is not None:
        from meterd.config import load_config  # pydantic: only when a configuration is given

        config = load_config(args.config)
    if config is not None:
        key_file = key_file or config.keys.file  # --keys wins over [keys] file
    keys = load_keys(key_file, allow_insecure=getattr(args, "insecure_keys", False)) if key_file else {}
    if config is not None:
        from meterd.config import ConfigError

        for meter_id, driver in config.drivers.items():
            if driver != "oms" and registry.by_name(driver) is None:
                known = ", ".join(d.name for d in registry.decoders)
                raise ConfigError(f"[drivers] {meter_id} = {driver!r}: no such vendor decoder (oms, {known})")
            registry.overrides[normalise_meter_id(meter_id)] = driver
    return Decoder(keys, vendors=registry)


def cmd_decode(args: argparse.Namespace) -> int:
    from meterd.commands.decode import run_jsonl, run_one, write_json

    decoder = _decoder(args)
    if args.jsonl:
        run_jsonl(decoder, sys.stdin, sys.stdout.buffer)
        return 0
    if args.hex is None:
        raise MeterdError("give a telegram as HEX or use --jsonl to read stdin")
    write_json(run_one(decoder, " ".join(args.hex), args.key))
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    import threading

    from meterd.commands.listen import emit, install_stop_handlers, paced
    from meterd.config import load_config
    from meterd.drivers.registry import open_receiver
    from meterd.drivers.serial_port import PortSettings

    config = load_config(args.config)
    receiver = config.receiver
    dongle, port = args.dongle or receiver.dongle, args.port or receiver.port
    if not dongle or not port:
        raise MeterdError("name the receiver: --dongle and --port, or [receiver] dongle and port in --config")
    if dongle not in DONGLES:
        raise MeterdError(f"unknown dongle {dongle!r}; known: {', '.join(DONGLES)}")
    decoder = _decoder(args, config)
    stop = threading.Event()
    install_stop_handlers(stop)
    counters: dict[str, int] = {}
    settings = PortSettings(silence_timeout_s=receiver.silence_timeout_s)
    mode = args.mode or receiver.mode
    frames = open_receiver(dongle, port, mode, stop, counters, settings, receiver.framer_options(dongle))
    emit(decoder, paced(frames, args.pace, stop), sys.stdout.buffer, counters)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from meterd.commands.check import check_csv, print_findings, report_problems

    if args.readings is None:
        from meterd.commands.store_cmds import check_store

        rows = check_store(args, lang=args.lang)
        print_findings(rows, args.format, sys.stdout)
        return 0
    from meterd.config import load_config

    config = load_config(args.config).check_config()
    rows, problems = check_csv(
        Path(args.readings),
        Path(args.meters) if args.meters else None,
        lang=args.lang,
        as_of=args.as_of,
        now=args.now,
        config=config,
    )
    report_problems(problems)
    print_findings(rows, args.format, sys.stdout)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    import glob

    from serial.tools import list_ports

    from meterd.drivers.serial_port import probe

    ports = args.ports or sorted({p.device for p in list_ports.comports()} | set(glob.glob("/dev/serial/by-id/*")))
    from meterd.config import load_config

    exclude = set(args.exclude or []) | set(load_config(args.config).receiver.exclude_ports)
    if not ports:
        print("no serial ports found")
        return 0
    for path, dongle, description in probe(ports, exclude, args.timeout):
        print(f"{path}\t{dongle}\t{description or ''}")
    for path in sorted(exclude & set(ports)):
        print(f"{path}\texcluded\t")
    return 0


DONGLES = ("im871a", "amb8465", "rc1180", "cul", "iu891a", "rtlwmbus", "hex")


def add_store_options(p: argparse.ArgumentParser) -> None:
    """--data DIR / --db URL, as every store command takes them (DESIGN 2.5)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--data", help="data directory holding the SQLite store (default: configured)")
    g.add_argument("--db", help="SQLAlchemy database URL, e.g. postgresql+psycopg://host/db")


def cmd_analyze(args: argparse.Namespace) -> int:
    import orjson

    from meterd.wmbus.analyze import analyze
    from meterd.wmbus.errors import DecodeError
    from meterd.wmbus.hexinput import parse_hex

    try:
        data = parse_hex(" ".join(args.hex))
    except DecodeError as e:
        raise MeterdError(e.message) from None
    key = bytes.fromhex(args.key) if args.key else None
    result = analyze(data, key, _decoder(args))
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for f in result["fields"]:
        where = f"{f['offset']:>4}" if f["offset"] >= 0 else "    "
        print(f"{where}  {f['layer']:<5} {f['name']:<12} {f['hex']:<18} {f['meaning']}")
    decoded = result.get("decoded", {})
    if decoded.get("ok"):
        print(
            f"decoded: total_m3 {decoded.get('total_m3')}, alarms {decoded.get('alarms')}, driver {decoded.get('driver')}"
        )
    elif decoded:
        print(f"not decoded: [{decoded['error']['code']}] {decoded['error']['message']}")
    for c in result.get("vendor_candidates", []):
        print(f"vendor decoder candidate: {c['decoder']} (fits {c['fit']})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterd", description="Water-meter readings from wM-Bus / M-Bus meters.")
    parser.add_argument("--version", action="version", version=f"meterd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("decode", help="decode telegrams to JSON (DESIGN 2.1)")
    p.add_argument("hex", nargs="*", default=None, help="telegram hex (separators allowed)")
    p.add_argument("--key", help="AES-128 key, 32 hex digits")
    p.add_argument("--jsonl", action="store_true", help="read one telegram per line from stdin")
    p.add_argument("--keys", help="CSV with header meter_id,key")
    p.add_argument("--insecure-keys", action="store_true", help="load a key file readable by others")
    p.add_argument("--config", help="TOML configuration ([drivers] per-meter vendor decoder)")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("analyze", help="explain a telegram field by field and name fitting vendor decoders")
    p.add_argument("hex", nargs="+")
    p.add_argument("--key", help="AES-128 key, 32 hex digits")
    p.add_argument("--keys", help="CSV with header meter_id,key")
    p.add_argument("--insecure-keys", action="store_true")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", help="TOML configuration ([drivers] per-meter vendor decoder)")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("listen", help="receive telegrams and print JSON lines (DESIGN 2.2)")
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

    p = sub.add_parser("probe", help="list serial ports and identify the wM-Bus dongle on each")
    p.add_argument("ports", nargs="*", help="ports to probe (default: all serial ports and /dev/serial/by-id)")
    p.add_argument("--exclude", action="append", help="never touch this port (repeatable)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for each answer")
    p.add_argument("--config", help="TOML configuration ([receiver] exclude_ports)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("check", help="validate readings and print findings (DESIGN 2.6)")
    p.add_argument("--readings", help="CSV meter_id,measured_at,total_m3[,status,alarms,received_at]")
    p.add_argument("--meters", help="CSV meter_id,premises_id,building_id,q3_m3h,schedule,medium")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")
    p.add_argument("--lang", choices=("en", "pl"), default="en", help="language of the reasons")
    p.add_argument("--as-of", help="end of the missing-data window (default: newest reading)")
    p.add_argument("--now", help="clock for future timestamps (default: the system clock)")
    p.add_argument("--config", help="TOML configuration (thresholds in [checks.cold] / [checks.warm])")
    add_store_options(p)
    p.set_defaults(func=cmd_check)

    from meterd.commands import store_cmds

    store_cmds.register(sub, add_store_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "hex", None) == []:
        args.hex = None
    try:
        result: int = args.func(args)
        return result
    except MeterdError as e:
        print(f"meterd: error [{e.code}]: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
