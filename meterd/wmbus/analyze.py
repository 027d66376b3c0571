"""Explaining a telegram field by field, for operators meeting a new meter model (`meterd analyze`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meterd.wmbus.afl import parse_afl
from meterd.wmbus.alarms import status_alarms
from meterd.wmbus.decoder import Decoder, _Pending
from meterd.wmbus.ell import ELL_CIS, parse_ell
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.link import MBUS, WMBUS, LinkFrame, parse_link
from meterd.wmbus.manufacturer import decode_manufacturer
from meterd.wmbus.medium import medium_name

SECURITY_MODES = {0: "none", 5: "AES-128-CBC, IV from header (mode 5)", 7: "AES-128-CBC, IV 0, KDF-A keys (mode 7)"}


@dataclass
class Field:
    offset: int  # in the frame without link-layer CRCs
    hex: str
    layer: str
    name: str
    meaning: str


def _vendor_link(decoder: Decoder, link: LinkFrame, add: Callable[[Field], None]) -> None:
    """What a vendor's frame preparation changes (another address order, scrambled data)."""
    try:
        prepared = decoder.vendors.prepare(link)
    except DecodeError as e:
        add(Field(10, "", "vendor", "frame", e.message))
        return
    if prepared is link:
        return
    if prepared.id_bytes != link.id_bytes:
        meaning = (
            f"this manufacturer sends A as version, type, ID: ID {prepared.meter_id}, "
            f"version {prepared.version}, type {medium_name(prepared.device_type)}"
        )
        add(Field(4, "", "vendor", "A", meaning))
    if prepared.descrambled:
        add(Field(15, "", "vendor", "data", "scrambled data after the header, undone with a published default key"))
    elif prepared.payload != link.payload:
        add(
            Field(
                15, "", "vendor", "data", "scrambled frame type, but the data is already plain (descrambled upstream)"
            )
        )


def analyze(data: bytes, key: bytes | None = None, decoder: Decoder | None = None) -> dict[str, Any]:
    """Fields of every layer the telegram has, the decoded result, and vendor decoders that could fit."""
    decoder = decoder or Decoder()
    fields: list[Field] = []
    try:
        link = parse_link(data)
    except DecodeError as e:
        return {"ok": False, "error": {"code": e.code, "message": e.message}, "fields": []}
    add = fields.append
    if link.kind == WMBUS:
        add(Field(0, f"{data[0]:02X}", "link", "L", f"{data[0]} bytes follow (CRCs: {link.crc_format})"))
        add(
            Field(
                1,
                f"{link.c_field:02X}",
                "link",
                "C",
                {0x44: "SND_NR (meter sends)", 0x46: "SND_IR (installation)"}.get(link.c_field, "control"),
            )
        )
        m = link.manufacturer
        add(Field(2, m.to_bytes(2, "little").hex().upper(), "link", "M", f"manufacturer {decode_manufacturer(m)}"))
        add(Field(4, link.id_bytes.hex().upper(), "link", "A.id", f"ID {link.meter_id} (BCD, LSB first)"))
        add(Field(8, f"{link.version:02X}", "link", "A.version", str(link.version)))
        add(Field(9, f"{link.device_type:02X}", "link", "A.type", medium_name(link.device_type)))
        _vendor_link(decoder, link, add)
        base = 10
    elif link.kind == MBUS:
        add(Field(0, "68", "link", "start", f"wired M-Bus long frame, C {link.c_field:02X}, address {link.address}"))
        base = 6
    else:
        return {"ok": True, "fields": [Field(0, data.hex().upper(), "link", link.kind, "M-Bus control frame").__dict__]}
    payload = link.payload
    pos = 0
    if payload and payload[0] in ELL_CIS:
        ell, pos = parse_ell(payload)
        add(Field(base, f"{payload[0]:02X}", "ell", "CI", "extended link layer"))
        add(Field(base + 1, f"{ell.cc:02X}", "ell", "CC", "communication control"))
        add(Field(base + 2, f"{ell.access_number:02X}", "ell", "ACC", f"access number {ell.access_number}"))
        if ell.session is not None:
            add(
                Field(
                    base + pos - 4,
                    ell.session.to_bytes(4, "little").hex().upper(),
                    "ell",
                    "SN",
                    "AES-CTR encrypted" if ell.encrypted else "session number, not encrypted",
                )
            )
            pos += 2
    if pos < len(payload) and payload[pos] == 0x90:
        try:
            afl, used = parse_afl(payload[pos:])
            add(
                Field(
                    base + pos,
                    payload[pos : pos + used].hex().upper(),
                    "afl",
                    "AFL",
                    f"FCL {afl.fcl:04X}, counter {afl.counter.hex() if afl.counter else '-'}, MAC {'present' if afl.mac else 'absent'}",
                )
            )
            pos += used
        except DecodeError as e:
            add(Field(base + pos, f"{payload[pos]:02X}", "afl", "AFL", e.message))
    if pos < len(payload):
        ci = payload[pos]
        kind = {
            0x72: "long header",
            0x7A: "short header",
            0x78: "no header",
            0x79: "compact frame",
            0x73: "fixed data",
            0x70: "application error",
        }
        add(
            Field(
                base + pos,
                f"{ci:02X}",
                "tpl",
                "CI",
                kind.get(ci, "manufacturer specific" if 0xA0 <= ci <= 0xB7 else "other"),
            )
        )
        p = pos + 1
        if ci == 0x72 and len(payload) >= p + 8:
            add(
                Field(
                    base + p,
                    payload[p : p + 8].hex().upper(),
                    "tpl",
                    "meter",
                    f"ID {payload[p : p + 4][::-1].hex().upper()}, {decode_manufacturer(payload[p + 4] | payload[p + 5] << 8)}, version {payload[p + 6]}, {medium_name(payload[p + 7])}",
                )
            )
            p += 8
        if ci in (0x72, 0x7A) and len(payload) >= p + 4:
            status, cf = payload[p + 1], payload[p + 2] | payload[p + 3] << 8
            add(Field(base + p, f"{payload[p]:02X}", "tpl", "ACC", f"access number {payload[p]}"))
            add(Field(base + p + 1, f"{status:02X}", "tpl", "ST", ", ".join(status_alarms(status)) or "no error"))
            mode, blocks = (cf >> 8) & 0x1F, (cf >> 4) & 0x0F
            add(
                Field(
                    base + p + 2,
                    payload[p + 2 : p + 4].hex().upper(),
                    "tpl",
                    "CF",
                    f"security {SECURITY_MODES.get(mode, f'mode {mode}')}, {blocks} encrypted blocks",
                )
            )
    result: dict[str, Any] = {"ok": True}
    try:
        # walk on a scratch decoder so the explanation does not count as a reception (mode 7 counters)
        scratch = Decoder(decoder.keys, decoder.signatures, decoder.vendors, dict(decoder.counters))
        walked = scratch._walk(data, key)
        if isinstance(walked, _Pending):
            for spec in walked.layout.specs:
                r = spec.record
                meaning = f"{r.quantity} {r.unit or ''} storage {r.storage} {r.function}".strip()
                add(Field(-1, "", "apl", f"{r.dif}/{r.vif}", meaning))
        result["decoded"] = decoder.decode(data, key).to_dict()
    except DecodeError as e:
        result["decoded"] = e.to_dict()
    mfr = decode_manufacturer(link.manufacturer) if link.kind == WMBUS else ""
    candidates = []
    for vendor in decoder.vendors.decoders:
        score = (2 if mfr in vendor.manufacturers else 0) + (
            1 if vendor.device_types is None or link.device_type in vendor.device_types else 0
        )
        if score:
            candidates.append(
                {
                    "decoder": vendor.name,
                    "fit": (
                        "manufacturer and device type"
                        if score == 3
                        else "manufacturer"
                        if score == 2
                        else "device type"
                    ),
                }
            )
    result["vendor_candidates"] = sorted(candidates, key=lambda c: c["fit"] != "manufacturer and device type")
    result["fields"] = [f.__dict__ for f in fields]
    return result
