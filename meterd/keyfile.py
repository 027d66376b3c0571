"""Loading AES keys from CSV files (DESIGN 2.3): permissions checked, keys never echoed."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

from meterd.errors import MeterdError
from meterd.wmbus.keys import normalise_meter_id, parse_key


class KeyFileError(MeterdError):
    code = "bad_key_file"


class InsecureKeyFile(KeyFileError):
    code = "insecure_key_file"


def check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureKeyFile(
            f"{path} is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}' or pass --insecure-keys"
        )


def load_keys(path: str | os.PathLike[str], *, allow_insecure: bool = False) -> dict[str, bytes]:
    """Read `meter_id,key` rows (more columns allowed). Errors name the line, never the key."""
    p = Path(path)
    try:
        if not allow_insecure:
            check_permissions(p)
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise KeyFileError(f"cannot read key file {p}: {e.strerror}") from None
    return parse_keys_csv(text, str(p))


def parse_keys_csv(text: str, name: str = "keys") -> dict[str, bytes]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if "meter_id" not in fields or "key" not in fields:
        raise KeyFileError(f"{name}: header must contain meter_id and key")
    reader.fieldnames = fields
    keys: dict[str, bytes] = {}
    errors = []
    for row in reader:
        line = reader.line_num
        meter_id = (row.get("meter_id") or "").strip()
        if not meter_id:
            errors.append(f"line {line}: empty meter_id")
            continue
        try:
            keys[normalise_meter_id(meter_id)] = parse_key(row.get("key") or "")
        except ValueError as e:
            errors.append(f"line {line}: meter {meter_id}: {e}")
    if errors:
        raise KeyFileError(f"{name}: " + "; ".join(errors))
    return keys
