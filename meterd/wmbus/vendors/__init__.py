"""Vendor payload decoders: manufacturer-specific data the standard records do not cover.

Each vendor family is a small module with a `VendorDecoder` subclass, registered by manufacturer,
version and device type. The decoder calls `apply` after the standard layers; a vendor decoder returns
what it read (records, a total, alarms, identity it corrects) as a `VendorReading`, or for
manufacturer CIs 0xA0-0xB7 reads the whole payload itself. Meter-specific overrides (config) select a decoder by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from meterd.wmbus.link import LinkFrame
from meterd.wmbus.manufacturer import encode_manufacturer
from meterd.wmbus.result import Record, Telegram, Value, vendor_record
from meterd.wmbus.security import AesKey

__all__ = ["VendorDecoder", "VendorInput", "VendorReading", "VendorRegistry", "default_registry", "manufacturer_tail", "vendor_record"]


@dataclass(slots=True, frozen=True)
class VendorInput:
    """What a vendor decoder reads: the telegram as the standard layers decoded it (not to be changed:
    what the vendor reads differently it returns), the application payload after decryption or, for a
    manufacturer CI, the bytes after the CI."""

    telegram: Telegram
    apl: bytes
    status: int
    ci: int | None = None
    key: AesKey | None = field(default=None, repr=False)
    dll: bytes = b""  # M (2) and A (6) of the link layer as received

    @property
    def records(self) -> list[Record]:
        return self.telegram.records


@dataclass(slots=True)
class VendorReading:
    """What a vendor decoder read; a field left None keeps what the standard decoding found."""

    records: list[Record] = field(default_factory=list)  # read or derived: after the telegram's own
    own: list[Record] | None = None  # the telegram's own records as this vendor reads them
    total_m3: Value = None
    alarms: list[str] = field(default_factory=list)  # besides those of the status byte
    model: str | None = None  # the driver name of the model read, when the decoder serves several
    meter_id: str | None = None
    version: int | None = None
    device_type: int | None = None
    medium: str | None = None
    access_number: int | None = None
    security_mode: int | None = None
    decrypted: bool | None = None
    default_key: bool = False  # decrypted with the key the vendor ships its meters with
    alarm_durations: dict[str, str] | None = None
    warning: str | None = None
    read: bool = True  # False: nothing read (the warning says why); the standard decoding stands


def manufacturer_tail(records: list[Record]) -> Record | None:
    """The record of manufacturer data after DIF 0F (its value the bytes as hex), if there is one."""
    return next((r for r in records if r.dif == "0F" and isinstance(r.value, str)), None)


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

    def apply(self, given: VendorInput) -> VendorReading | None:
        """What this telegram holds of the vendor's data; None when it holds none (the standard
        decoding stands)."""
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
