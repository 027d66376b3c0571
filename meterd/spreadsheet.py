"""CSV for people, in two dialects (the same columns in the same order):

- `plain`: comma, decimal point, UTF-8 without BOM, LF, UTC times `YYYY-MM-DDTHH:MM:SSZ`;
- `pl`: semicolon, decimal comma, UTF-8 with BOM, CRLF, local times of the site (`[site] timezone`,
  Europe/Warsaw by default) as `YYYY-MM-DD HH:MM`: what Polish Excel opens into its columns, with
  Polish letters intact.

Numbers people type are read with a decimal point or comma. A cut-off given as a date is the end of
that day in the site's time zone; a time with an offset is exact.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

DIALECTS = ("plain", "pl")
SITE_ZONE = "Europe/Warsaw"
BOM = "\ufeff"


@dataclass(frozen=True)
class Dialect:
    name: str
    delimiter: str
    decimal: str
    bom: bool
    lineterminator: str
    zone: ZoneInfo | None  # None: UTC with Z

    def writer(self, f: IO[str]) -> Any:
        """A csv writer of this dialect on `f` (the BOM written first where the dialect has one)."""
        if self.bom:
            f.write(BOM)
        return csv.writer(f, delimiter=self.delimiter, lineterminator=self.lineterminator)

    def writer_without_bom(self, f: IO[str]) -> Any:
        """The same for a file in another encoding than UTF-8 (a BOM would be a stray character there)."""
        return csv.writer(f, delimiter=self.delimiter, lineterminator=self.lineterminator)

    def number(self, x: float | None) -> str:
        if x is None:
            return ""
        text = repr(float(x)) if not isinstance(x, int) else str(x)
        return text.replace(".", self.decimal) if self.decimal != "." else text

    def time(self, t: int | None) -> str:
        if t is None:
            return ""
        if self.zone is None:
            return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return datetime.fromtimestamp(t, self.zone).strftime("%Y-%m-%d %H:%M")


def dialect(name: str, timezone: str = SITE_ZONE) -> Dialect:
    if name == "pl":
        return Dialect("pl", ";", ",", True, "\r\n", ZoneInfo(timezone))
    if name == "plain":
        return Dialect("plain", ",", ".", False, "\n", None)
    raise ValueError(f"dialect {name!r}: plain or pl")


def local_number(lang: str, value: float, digits: int = 3) -> str:
    """A number with `digits` decimals as a person of `lang` reads it: `167,126` in Polish, `167.126`
    in English (pages and screens; the CSV dialects write full precision, `Dialect.number`)."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "pl" else text


_NUMBER = re.compile(r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d+)\s*$")


def parse_number(text: str) -> float:
    """A number as a person types it: `12.5` or `12,5` (no thousands separators); ValueError otherwise."""
    if not _NUMBER.match(text):
        raise ValueError(f"{text!r} is not a number (12.5 or 12,5)")
    return float(text.replace(",", ".").strip())


def end_of_local_day(day: date, timezone: str = SITE_ZONE) -> int:
    """The end of a calendar day in the site's time zone (the start of the next), as epoch seconds."""
    start_next = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(timezone))
    return int(start_next.timestamp())
