"""Loading AES keys from CSV files: permissions checked, nothing read from the file ever echoed."""

from __future__ import annotations

import os
from pathlib import Path

from meterd.errors import MeterdError
from meterd.fileio import InsecureFile, check_permissions
from meterd.ids import KEY, MANUFACTURER, METER_ID, normalise_manufacturer, normalise_meter_id
from meterd.textinput import CsvFile, InputFileError


class KeyFileError(MeterdError):
    code = "bad_key_file"


class InsecureKeyFile(KeyFileError):
    code = "insecure_key_file"


def load_keys(
    path: str | os.PathLike[str], *, allow_insecure: bool = False, encoding: str = "utf-8"
) -> dict[tuple[str, str], bytes]:
    """Read `meter_id,key` rows (more columns allowed; `,` or `;`) → (manufacturer, meter id) → key. An
    optional `manufacturer` column names the meter's maker; a row without one ("") holds for that ID
    of any maker. Problems name the line and the column, never a value: with the columns swapped the
    "meter id" is a key."""
    p = Path(path)
    if not allow_insecure:
        try:
            check_permissions(p)
        except InsecureFile as e:
            raise InsecureKeyFile(e.message) from None
        except MeterdError as e:
            raise KeyFileError(e.message) from None
    keys: dict[tuple[str, str], bytes] = {}
    seen: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    try:
        for line, row in CsvFile(p, encoding).rows({"meter_id", "key"}):
            meter_text, key_text = row.get("meter_id", ""), row.get("key", "").replace(" ", "")
            maker = normalise_manufacturer(row.get("manufacturer") or "")
            if not METER_ID.fullmatch(meter_text):
                errors.append(f"{p}:{line}: column meter_id: not a meter id (up to 8 hex digits)")
            elif maker and not MANUFACTURER.fullmatch(maker):
                errors.append(f"{p}:{line}: column manufacturer: not a three-letter code")
            elif not KEY.fullmatch(key_text):
                errors.append(f"{p}:{line}: column key: not 32 hex digits (an AES-128 key) nor 16 (a DES key)")
            else:
                meter = (maker, normalise_meter_id(meter_text))
                if meter in seen:
                    errors.append(f"{p}:{line}: column meter_id: the same meter as on line {seen[meter]}")
                    continue
                seen[meter] = line
                keys[meter] = bytes.fromhex(key_text)
    except InputFileError as e:
        raise KeyFileError(e.message) from None
    if errors:
        more = f"; and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise KeyFileError("; ".join(errors[:10]) + more)
    return keys
