"""Format signatures for compact frames (CI 0x79).

A compact frame carries only values and a 2-byte signature: the CRC-16 of the DIB/VIB bytes of the
full frame it abbreviates. The cache learns formats from full frames and can be saved and loaded
by the caller (the decoder itself does no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable

from meterd.wmbus.crc import crc16_en13757
from meterd.wmbus.records import Layout, parse_layout


def format_signature(format_bytes: bytes) -> int:
    return crc16_en13757(format_bytes)


class SignatureCache:
    def __init__(self, formats: Iterable[bytes] = ()) -> None:
        self._formats: dict[int, bytes] = {}
        self._layouts: dict[int, Layout] = {}
        for fmt in formats:
            self.learn(fmt)

    def __len__(self) -> int:
        return len(self._formats)

    def __contains__(self, signature: object) -> bool:
        return signature in self._formats

    def learn(self, format_bytes: bytes) -> int:
        """Remember a format; returns its signature."""
        sig = format_signature(format_bytes)
        if self._formats.get(sig) != format_bytes:
            self._formats[sig] = format_bytes
            self._layouts.pop(sig, None)
        return sig

    def layout(self, signature: int) -> Layout | None:
        layout = self._layouts.get(signature)
        if layout is None:
            fmt = self._formats.get(signature)
            if fmt is None:
                return None
            layout = parse_layout(fmt, 0, compact=True)
            self._layouts[signature] = layout
        return layout

    def export(self) -> dict[str, str]:
        """Signature (4 hex digits) → format bytes (hex), for persisting."""
        return {f"{sig:04X}": fmt.hex().upper() for sig, fmt in sorted(self._formats.items())}

    @classmethod
    def from_export(cls, data: dict[str, str]) -> SignatureCache:
        return cls(bytes.fromhex(fmt) for fmt in data.values())
