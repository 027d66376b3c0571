"""`meterd decode`: hex telegrams in, DESIGN 2.1 JSON objects out."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from meterd.wmbus import Decoder
from meterd.wmbus.errors import DecodeError

_EMPTY = DecodeError("empty", "empty line").to_dict()


def decode_line(decoder: Decoder, line: str) -> dict[str, Any]:
    """One --jsonl input line: bare hex or {"telegram": ..., "key": ...}."""
    text = line.strip()
    if not text:
        return dict(_EMPTY)
    if text[0] != "{":
        return decoder.decode_hex(text)
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        return DecodeError("bad_input", "line is neither hex nor a valid JSON object").to_dict()
    if not isinstance(item, dict):
        return DecodeError("bad_input", "JSON line must be an object").to_dict()
    telegram = item.get("telegram")
    key = item.get("key")
    if not isinstance(telegram, str):
        return DecodeError("empty" if telegram is None else "bad_input", "object has no telegram string").to_dict()
    if key is not None and not isinstance(key, str):
        return DecodeError("bad_key", "key must be a string of 32 hex digits or null").to_dict()
    try:
        key_bytes = _key_bytes(key) if key is not None else None
    except DecodeError as e:
        return e.to_dict()
    return decoder.decode_hex(telegram, key_bytes)


def _key_bytes(key: str) -> bytes:
    cleaned = key.replace(" ", "")
    try:
        key_bytes = bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError("bad_key", "key is not hex") from None
    if len(key_bytes) != 16:
        raise DecodeError("bad_key", f"key must be 32 hex digits, got {len(cleaned)}")
    return key_bytes


def decode_line_json(decoder: Decoder, line: str) -> bytes:
    """decode_line, serialised; bare hex lines take the decoder's direct-to-JSON path."""
    text = line.strip()
    if text and text[0] != "{":
        return decoder.decode_hex_json(text)
    return orjson.dumps(decode_line(decoder, text))


def iter_decoded(decoder: Decoder, lines: Iterable[str]) -> Iterator[bytes]:
    for line in lines:
        yield decode_line_json(decoder, line)


def run_jsonl(decoder: Decoder, stdin: IO[str], stdout: IO[bytes]) -> None:
    """Stream stdin to stdout, one object per line, flushing in chunks (and at the end)."""
    write = stdout.write
    buf: list[bytes] = []
    interactive = stdin.isatty()
    for out in iter_decoded(decoder, stdin):
        buf.append(out)
        if interactive or len(buf) >= 512:
            write(b"\n".join(buf) + b"\n")
            buf.clear()
            if interactive:
                stdout.flush()
    if buf:
        write(b"\n".join(buf) + b"\n")
    stdout.flush()


def run_one(decoder: Decoder, telegram: str, key: str | None) -> dict[str, Any]:
    try:
        key_bytes = _key_bytes(key) if key is not None else None
    except DecodeError as e:
        return e.to_dict()
    return decoder.decode_hex(telegram, key_bytes)


def write_json(obj: object, stream: IO[bytes] | None = None) -> None:
    out = stream or sys.stdout.buffer
    out.write(orjson.dumps(obj) + b"\n")
    out.flush()
