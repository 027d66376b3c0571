"""Vendor payload decoders: manufacturer-specific data the standard records do not cover.

Each vendor family is a small module with a `VendorDecoder` subclass, registered by manufacturer,
version and device type. The decoder calls `apply` after the standard layers, so a vendor decoder
may add records, set `total_m3` and add alarms, or (for manufacturer CIs 0xA0-0xB7) read the whole
payload itself. Meter-specific overrides (config) select a decoder by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from meterd.wmbus.link import LinkFrame
from meterd.wmbus.manufacturer import encode_manufacturer
from meterd.wmbus.security import AesKey


@dataclass(slots=True)
class VendorContext:
    out: dict[str, Any]
    records: list[dict[str, Any]]
    apl: bytes
    status: int
    alarms: list[str]
    ci: int | None = None
    key: AesKey | None = field(default=None, repr=False)
    dll: bytes = b""  # M (2) and A (6) of the link layer as received


def vendor_record(
    quantity: str,
    unit: str | None,
    value: object,
    storage: int = 0,
    dif: str | None = None,
    vif: str | None = None,
    **extra: object,
) -> dict[str, Any]:
    """A record a vendor decoder adds, in the shape of the standard records (docs/interfaces.md)."""
    return {"storage": storage, "tariff": 0, "subunit": 0, "function": "instantaneous", "quantity": quantity,
            "unit": unit, "value": value, "dif": dif, "vif": vif, **extra}  # fmt: skip


class VendorDecoder:
    name = "oms"
    manufacturers: frozenset[str] = frozenset()
    device_types: frozenset[int] | None = None  # None: any
    versions: frozenset[int] | None = None
    cis: frozenset[int] = frozenset()
    models: frozenset[str] = frozenset()  # the driver names of the models it reads (also accepted in [drivers])
    default_key: bytes | None = None  # a published key, tried when no key is configured for the meter
    prepares_frames = False  # whether `prepare` may change frames of these manufacturers
    reads_payload = False  # whether `apply` reads a payload the record parser cannot (it gets no records)

    def matches(self, manufacturer: str, version: int, device_type: int) -> bool:
        return (
            manufacturer in self.manufacturers
            and (self.versions is None or version in self.versions)
            and (self.device_types is None or device_type in self.device_types)
        )

    def handles_ci(self, ci: int) -> bool:
        return ci in self.cis

    def prepare(self, link: LinkFrame) -> LinkFrame:
        """Undo a family's departures from the standard (address order, scrambling) before the standard
        layers read the frame; may raise DecodeError. Only called when `prepares_frames` is set."""
        return link

    def known_formats(self) -> tuple[bytes, ...]:
        """DIB/VIB formats of compact frames this family sends, registered before any full frame."""
        return ()

    def apply(self, ctx: VendorContext) -> bool:
        """Read the vendor data into ctx; False when this telegram holds none (standard decoding stands).
        A decoder serving several models names the one it read in ctx.out["vendor_model"] (the driver name)."""
        raise NotImplementedError


class VendorRegistry:
    """Ordered vendor decoders plus per-meter overrides (meter identity bytes → decoder name)."""

    def __init__(self, decoders: list[VendorDecoder] | None = None) -> None:
        self.decoders: list[VendorDecoder] = list(decoders or [])
        self.overrides: dict[str, str] = {}
        self._cache: dict[tuple[str, int, int], VendorDecoder | None] = {}
        self._preparers = self._index_preparers()

    def _index_preparers(self) -> dict[int, VendorDecoder]:
        return {
            encode_manufacturer(m): d for d in reversed(self.decoders) if d.prepares_frames for m in d.manufacturers
        }

    def register(self, decoder: VendorDecoder) -> None:
        self.decoders.append(decoder)
        self._cache.clear()
        self._preparers = self._index_preparers()

    def prepare(self, link: LinkFrame) -> LinkFrame:
        decoder = self._preparers.get(link.manufacturer)
        return link if decoder is None else decoder.prepare(link)

    def by_name(self, name: str) -> VendorDecoder | None:
        return next((d for d in self.decoders if d.name == name or name in d.models), None)

    def find(self, manufacturer: str, version: int, device_type: int, identity: bytes) -> VendorDecoder | None:
        if self.overrides:
            name = self.overrides.get(identity[2:6][::-1].hex().upper())
            if name is not None:
                return None if name == "oms" else self.by_name(name)
        key = (manufacturer, version, device_type)
        try:
            return self._cache[key]
        except KeyError:
            found = next((d for d in self.decoders if d.matches(manufacturer, version, device_type)), None)
            self._cache[key] = found
            return found

    def known_formats(self) -> list[bytes]:
        return [fmt for d in self.decoders for fmt in d.known_formats()]


def vendor_modules() -> list[ModuleType]:
    """Every module of this package, by name: each holds its family's decoders (`DECODERS`) and
    telegrams of its own making (`EXAMPLES`, where it has them). A new vendor is a new module here."""
    import importlib
    import pkgutil

    return [importlib.import_module(f"{__name__}.{m.name}") for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)]


def default_registry() -> VendorRegistry:
    """The decoders of every vendor module (meterd.wmbus.vendors.*), in module order. Families that
    share a manufacturer tell their frames apart in `matches` (by version or device type)."""
    return VendorRegistry([d for module in vendor_modules() for d in module.DECODERS])
