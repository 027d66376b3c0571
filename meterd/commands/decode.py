"""`meterd decode`: hex telegrams in, one JSON object per telegram out (docs/interfaces.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import orjson

from meterd.jsonio import dumps
from meterd.textinput import bounded_lines
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.hexinput import parse_hex

if TYPE_CHECKING:  # the decoder (and numpy) load when a telegram is decoded, not when the parser is built
    from meterd.wmbus import Decoder


def _key_bytes(key: str) -> bytes:
    cleaned = key.replace(" ", "")
    try:
        key_bytes = bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError("bad_key", "key is not hex") from None
    if len(key_bytes) not in (16, 8):
        raise DecodeError("bad_key", f"key must be 32 hex digits (AES-128) or 16 (DES), got {len(cleaned)}")
    return key_bytes


MAX_INPUT_LINE = 1 << 16  # a telegram is at most 256 bytes: 64 KiB is room for any separators and JSON


def run_jsonl(decoder: Decoder, stdin: IO[str], stdout: IO[bytes], chunk: int = 4096) -> None:
    """Stream stdin to stdout, one object per line in order; written in chunks of lines, an
    interactive stdin line by line. Lines are read as bytes with a bound, so neither a huge line nor
    bytes that are not UTF-8 can stop the stream."""
    binary = stdin.buffer if hasattr(stdin, "buffer") else None
    if binary is None:  # a text stream handed in by a caller (tests): encode it back
        source: Iterator[bytes | None] = (line.encode("utf-8", "surrogateescape") for line in stdin)
    else:
        source = bounded_lines(binary, MAX_INPUT_LINE)
    if stdin.isatty():
        for raw in source:
            stdout.write(decode_line(decoder, raw) + b"\n")
            stdout.flush()
        return
    lines: list[bytes] = []
    for raw in source:
        lines.append(decode_line(decoder, raw))
        if len(lines) >= chunk:
            stdout.write(b"\n".join(lines) + b"\n")
            lines.clear()
    if lines:
        stdout.write(b"\n".join(lines) + b"\n")
    stdout.flush()


def decode_line(decoder: Decoder, line: bytes | str | None) -> bytes:
    """One input line (None: a line over the bound) as its JSON object. Whatever fails while decoding
    it or writing its JSON becomes this line's `internal_error`."""
    frame, key, error = _parse_input(line)
    if error is not None:
        return dumps(error)
    assert frame is not None
    return decoder.decode_bytes_json(frame, key)


def _parse_input(line: bytes | str | None) -> tuple[bytes | None, bytes | None, dict[str, Any] | None]:
    """(frame, key, error) for one input line."""
    try:
        if line is None:
            raise DecodeError("too_long", f"line longer than {MAX_INPUT_LINE} bytes")
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("bad_input", "line is not UTF-8 text") from None
        text = line.strip()
        if not text:
            raise DecodeError("empty", "empty line")
        if text[0] != "{":
            return parse_hex(text), None, None
        try:
            item = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise DecodeError("bad_input", "line is neither hex nor a valid JSON object") from None
        if not isinstance(item, dict):
            raise DecodeError("bad_input", "JSON line must be an object")
        telegram = item.get("telegram")
        if not isinstance(telegram, str):
            raise DecodeError("empty" if telegram is None else "bad_input", "object has no telegram string")
        key = item.get("key")
        if key is not None and not isinstance(key, str):
            raise DecodeError("bad_key", "key must be a string of 32 hex digits or null")
        return parse_hex(telegram), (_key_bytes(key) if key is not None else None), None
    except DecodeError as e:
        return None, None, e.to_dict()


def run_one(decoder: Decoder, telegram: str, key: str | None) -> dict[str, object]:
    try:
        key_bytes = _key_bytes(key) if key is not None else None
    except DecodeError as e:
        return e.to_dict()
    return decoder.decode_hex(telegram, key_bytes).to_dict()


def write_json(obj: object, stream: IO[bytes] | None = None) -> None:
    out = stream or sys.stdout.buffer
    out.write(dumps(obj) + b"\n")
    out.flush()


def cmd_decode(args: argparse.Namespace) -> int:
    from meterd.errors import MeterdError
    from meterd.setup import build_decoder

    decoder = build_decoder(args)
    if args.jsonl:
        run_jsonl(decoder, sys.stdin, sys.stdout.buffer)
        return 0
    if not args.hex:
        raise MeterdError("give a telegram as HEX or use --jsonl to read stdin")
    obj = run_one(decoder, " ".join(args.hex), args.key)
    write_json(obj)
    return 0 if obj.get("ok") else 1  # the error object is the answer; the exit status says it failed


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("decode", help="decode telegrams to JSON")
    p.add_argument("hex", nargs="*", default=None, help="telegram hex (separators allowed)")
    p.add_argument("--key", help="AES-128 key, 32 hex digits")
    p.add_argument("--jsonl", action="store_true", help="read one telegram per line from stdin")
    p.add_argument("--keys", help="CSV with header meter_id,key")
    p.add_argument("--insecure-keys", action="store_true", help="load a key file readable by others")
    p.add_argument("--config", help="TOML configuration ([keys] file, [drivers] per-meter vendor decoder)")
    p.set_defaults(func=cmd_decode)
