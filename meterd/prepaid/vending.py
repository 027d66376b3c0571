"""The vending interface: credit for a meter in, a token out. The real one is the meter vendor's
vending system (licensed, reached over its own API); meterd talks to it through `Vending`. The
stand-in here (`FileVending`) hands out tokens the vendor's system exported to a CSV file
(`meter_id,amount,token`), each once, which is also how a site without the API works.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from meterd.errors import MeterdError
from meterd.fileio import atomic_text
from meterd.prepaid.tokens import normalise_token


class VendingError(MeterdError):
    code = "vending_error"


@dataclass(frozen=True)
class Issued:
    token: str
    vendor_ref: str


class Vending(Protocol):
    def issue(self, meter_id: str, amount: float) -> Issued:
        """A token worth `amount` for the meter; VendingError when the vending system refuses."""


class FileVending:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def issue(self, meter_id: str, amount: float) -> Issued:
        try:
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except (OSError, csv.Error, UnicodeDecodeError) as e:
            raise VendingError(f"vending file {self.path}: {e}") from None
        for i, row in enumerate(rows):
            if row.get("meter_id") == meter_id and not row.get("used") and _amount(row) == round(amount, 2):
                token = normalise_token(row.get("token") or "")
                row["used"] = "1"
                fields = ["meter_id", "amount", "token", "used"]
                with atomic_text(self.path, newline="") as out:  # the token is spent: never handed out twice
                    w = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
                    w.writeheader()
                    w.writerows(rows)
                return Issued(token, f"{self.path.name}:{i + 2}")
        raise VendingError(f"vending file {self.path}: no unused token of {amount:.2f} for meter {meter_id}")


def _amount(row: dict[str, str]) -> float | None:
    try:
        return round(float(row.get("amount") or ""), 2)
    except ValueError:
        return None
