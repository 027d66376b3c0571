"""`meterd analyze HEX`: explain a telegram field by field and name the vendor decoders that could fit."""

from __future__ import annotations

import argparse
import sys


def cmd_analyze(args: argparse.Namespace) -> int:
    import orjson

    from meterd.commands.decode import _key_bytes
    from meterd.errors import MeterdError
    from meterd.setup import build_decoder
    from meterd.wmbus.analyze import analyze
    from meterd.wmbus.errors import DecodeError
    from meterd.wmbus.hexinput import parse_hex

    try:
        data = parse_hex(" ".join(args.hex))
        key = _key_bytes(args.key) if args.key else None
    except DecodeError as e:
        raise MeterdError(e.message) from None
    result = analyze(data, key, build_decoder(args))
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if "error" in result:  # not even the link layer could be read
        error = MeterdError(f"cannot explain {len(data)} bytes: {result['error']['message']}")
        error.code = str(result["error"]["code"])
        raise error
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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("analyze", help="explain a telegram field by field and name fitting vendor decoders")
    p.add_argument("hex", nargs="+")
    p.add_argument("--key", help="AES-128 key, 32 hex digits")
    p.add_argument("--keys", help="CSV with header meter_id,key")
    p.add_argument("--insecure-keys", action="store_true")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--config", help="TOML configuration ([drivers] per-meter vendor decoder)")
    p.set_defaults(func=cmd_analyze)
