"""The telegram decoder: link → ELL → AFL → TPL → security → records → output object (docs/interfaces.md).

`Decoder` holds the state that decoding needs across telegrams (keys, learned compact-frame formats,
parsed record layouts, mode 7 message counters); everything it calls is a pure function of bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from meterd.wmbus.afl import Afl, parse_afl
from meterd.wmbus.alarms import normalise, status_alarms
from meterd.wmbus.crc import crc16_en13757
from meterd.wmbus.ell import ELL_CIS, Ell, ctr_prefix, parse_ell
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.fixed import decode_fixed
from meterd.wmbus.hexinput import parse_hex
from meterd.wmbus.keys import KeyRing, KeysGiven
from meterd.wmbus.link import MBUS, MBUS_ACK, MBUS_SHORT, WMBUS, LinkFrame, parse_link
from meterd.wmbus.manufacturer import decode_manufacturer
from meterd.wmbus.medium import ADAPTER_TYPES, medium_name
from meterd.wmbus.records import Layout, LayoutCache, parse_layout
from meterd.wmbus.result import Adapter, ControlFrame, Decoded, Failure, Record, Telegram
from meterd.wmbus.security import ZERO_IV, AesKey, derive_mode7_keys, mode5_iv
from meterd.wmbus.signatures import SignatureCache
from meterd.wmbus.vendors import VendorDecoder, VendorInput, VendorRegistry, default_registry

APPLICATION_ERRORS = {
    0x00: "unspecified error",
    0x01: "unimplemented CI",
    0x02: "buffer too long, truncated",
    0x03: "too many records",
    0x04: "premature end of record",
    0x05: "more than 10 DIFEs",
    0x06: "more than 10 VIFEs",
    0x08: "application too busy",
    0x09: "too many readouts",
}
_SHORT_TPL = frozenset({0x7A, 0x8A, 0x6E, 0x74, 0x5A, 0x7B})  # 0x7B: short header, compact frame (radio)
_LONG_TPL = frozenset({0x72, 0x8B, 0x6F, 0x75, 0x5B, 0x73})  # 0x73 on radio: long header, compact frame
_COMPACT_TPL = frozenset({0x73, 0x7B})
_NO_APL = frozenset({0x8A, 0x8B})
_ERROR_CIS = frozenset({0x70, 0x6E, 0x6F})
_ALARM_CIS = frozenset({0x71, 0x74, 0x75})
_FILLER = b"\x2f\x2f"


class _Header:
    """Identity and TPL fields gathered while walking the layers."""

    __slots__ = ("a_bytes", "acc", "afl", "cf", "cfe", "dll", "ell", "long", "m_bytes", "status")

    def __init__(self, link: LinkFrame) -> None:
        self.m_bytes = link.manufacturer.to_bytes(2, "little")
        # wired M-Bus has no identity below the TPL: zeros until a long header gives one
        self.a_bytes = link.id_bytes + bytes([link.version, link.device_type]) if link.id_bytes else bytes(6)
        self.dll = self.m_bytes + self.a_bytes  # as received, before a TPL long header names the meter
        self.acc: int | None = None
        self.status: int | None = None
        self.cf = 0
        self.cfe: int | None = None
        self.long = False
        self.ell: Ell | None = None
        self.afl: Afl | None = None

    @property
    def meter_id(self) -> str:
        return self.a_bytes[3::-1].hex().upper()


RECORD_ERRORS = frozenset({"truncated_record", "bad_record"})
# fields of a VendorReading that correct the telegram's: (its name there, the telegram's)
_CORRECTIONS = (("meter_id", "id"), ("version", "version"), ("device_type", "device_type"), ("medium", "medium"),
                ("access_number", "access_number"), ("security_mode", "security_mode"), ("decrypted", "decrypted"))  # fmt: skip
_Identity = tuple[str | None, str | None, int | None, int | None, str | None]  # id, manufacturer, version, type, medium


class _Pending:
    """Headers decoded, records located but not yet turned into values."""

    __slots__ = ("apl", "data", "hdr", "layout", "out")

    def __init__(self, out: Telegram, hdr: _Header, layout: Layout, data: bytes, apl: bytes) -> None:
        self.out = out
        self.hdr = hdr
        self.layout = layout
        self.data = data
        self.apl = apl


# Security modes EN 13757-7 defines (0 none, 1 manufacturer, 2-3 DES, 4 specific, 5 and 7 AES-CBC,
# 8 AES-CTR, 9 AES-GCM, 10 AES-CCM, 13 TLS); every other value names none.
UNDEFINED_SECURITY_MODES = frozenset(range(32)) - {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 13}


class Decoder:
    """Decodes telegrams to the objects docs/interfaces.md describes. Not thread-safe: use one per thread."""

    def __init__(
        self,
        keys: KeyRing | KeysGiven | None = None,
        signatures: SignatureCache | None = None,
        vendors: VendorRegistry | None = None,
        counters: dict[str, int] | None = None,
    ) -> None:
        self.keys = keys if isinstance(keys, KeyRing) else KeyRing(keys or {})
        self.signatures = signatures if signatures is not None else SignatureCache()
        self.vendors = vendors if vendors is not None else default_registry()
        self.layouts = LayoutCache()
        # link and header identity → (the identity fields, the adapter's identity or None)
        self._identities: dict[tuple[object, ...], tuple[_Identity, Adapter | None]] = {}
        # Last mode 7 message counter (AFL MCR) per meter; persist it to reject replays across restarts.
        self.counters: dict[str, int] = counters if counters is not None else {}
        for fmt in self.vendors.known_formats():
            self.signatures.learn(fmt)

    # -- public API -------------------------------------------------------------------------------

    def export_state(self) -> dict[str, dict[str, Any]]:
        """What this decoder learned (compact-frame formats) and saw (mode 7 counters), as plain data."""
        return {"signatures": self.signatures.export(), "counters": dict(self.counters)}

    def restore_state(self, signatures: Mapping[str, str], counters: Mapping[str, int]) -> None:
        """Teach this decoder what an earlier run exported; counters only ever move forward."""
        for fmt in signatures.values():
            self.signatures.learn(bytes.fromhex(fmt))
        for meter, counter in counters.items():
            self.counters[meter] = max(int(counter), self.counters.get(meter, -1))

    def decode_hex(self, text: str, key: str | bytes | None = None) -> Decoded:
        """Decode hex text; never raises: what cannot be decoded comes back as a `Failure`."""
        try:
            data = parse_hex(text)
            key_bytes = bytes.fromhex(key) if isinstance(key, str) else key
        except DecodeError as e:
            return e.failure()
        except ValueError:
            return Failure("bad_hex", "key is not valid hex")
        return self.decode_bytes(data, key_bytes)

    def decode_bytes(self, data: bytes, key: bytes | None = None) -> Decoded:
        """`decode` for receivers: never raises; what cannot be decoded comes back as a `Failure`."""
        try:
            return self.decode(data, key)
        except DecodeError as e:
            return e.failure()
        except Exception as e:
            return Failure("internal_error", f"{type(e).__name__} while decoding")

    def decode_many(self, items: Iterable[tuple[str, str | None]]) -> list[Decoded]:
        """(hex, key-or-None) pairs → results in the same order."""
        decode = self.decode_hex
        return [decode(text, key) for text, key in items]

    def decode(self, data: bytes, key: bytes | None = None) -> Telegram | ControlFrame:
        """Decode one telegram; raises DecodeError with a stable code."""
        result = self._walk(data, key)
        if isinstance(result, _Pending):
            return self._finish(result.out, result.hdr, result.layout, result.layout.extract(result.data), result.apl)
        return result

    def decode_json(self, data: bytes, key: bytes | None = None) -> bytes:
        """Decode one telegram to its JSON object; raises DecodeError. A telegram that no vendor decoder
        reads has its records written straight from their values (no Record objects)."""
        result = self._walk(data, key)
        if not isinstance(result, _Pending):
            return result.to_json()
        out, hdr, layout = result.out, result.hdr, result.layout
        if self._vendor(out, hdr) is not None:
            return self._finish(out, hdr, layout, layout.extract(result.data), result.apl).to_json()
        data = result.data
        values = layout.values(data)
        out.total_m3 = values[layout.total_index] if layout.total_index is not None else None
        out.alarms = status_alarms(hdr.status) if hdr.status else []
        before, after = out.json_around_records()
        return "".join((before, layout.records_json(values, len(data)), after)).encode()

    def decode_bytes_json(self, data: bytes, key: bytes | None = None) -> bytes:
        """decode_json that never raises: what cannot be decoded is written as its `Failure`."""
        try:
            return self.decode_json(data, key)
        except DecodeError as e:
            return e.failure().to_json()
        except Exception as e:
            return Failure("internal_error", f"{type(e).__name__} while decoding").to_json()

    def decode_hex_json(self, text: str, key: bytes | None = None) -> bytes:
        """decode_json on hex text; never raises."""
        try:
            data = parse_hex(text)
        except DecodeError as e:
            return e.failure().to_json()
        return self.decode_bytes_json(data, key)

    def _vendor(self, out: Telegram, hdr: _Header) -> VendorDecoder | None:
        return self.vendors.find(out.manufacturer or "", out.version or 0, out.device_type or 0, hdr.m_bytes + hdr.a_bytes)

    def _walk(
        self, data: bytes, key: bytes | None, retry: bool = True, format_b: bool = True
    ) -> Telegram | ControlFrame | _Pending:
        link = parse_link(data, format_b=format_b)
        if link.kind == WMBUS:
            link = self.vendors.prepare(link)
        if link.kind in (MBUS_ACK, MBUS_SHORT):
            return self._control_frame(link)
        hdr = _Header(link)
        payload = link.payload
        meter_id: str | None = link.meter_id if link.kind == WMBUS else None
        try:
            result = self._decode_layers(link, hdr, payload, key)
        except DecodeError as e:
            if link.crc_format == "B" and len(data) <= data[0] + 2:
                # one frame without CRCs in 65,536 ends in two bytes that pass as a format B CRC: read
                # that way it fails, so read it as what it is (and report the first error if that fails too)
                try:
                    return self._walk(data, key, retry, format_b=False)
                except DecodeError:
                    pass
            if retry and link.warning is not None and e.code in RECORD_ERRORS and len(data) > data[0] + 3:
                # a wrong L with two bytes more than the records: the CRC of a frame relayed without its L fixed
                relayed = self._walk(data[:-2], key, retry=False)
                out = relayed.out if isinstance(relayed, _Pending) else relayed
                if isinstance(out, Telegram):
                    out.link_warning = _relayed_warning(data)
                return relayed
            if e.meter_id is None:
                e.meter_id = hdr.meter_id if (hdr.long or meter_id) else None
            raise
        if isinstance(result, _Pending) and result.layout.warnings:
            return self._cleaner(data, key, retry, link) or result
        return result

    def _cleaner(
        self, data: bytes, key: bytes | None, retry: bool, link: LinkFrame
    ) -> Telegram | ControlFrame | _Pending | None:
        """For a frame whose records needed lenient reading: the other reading of an ambiguous frame
        (without CRCs, or with two relayed CRC bytes past its L), when that one reads cleanly."""
        tries: list[tuple[bytes, bool, bool]] = []  # (frame, retry, relayed)
        if link.crc_format == "B" and len(data) <= data[0] + 2:
            tries.append((data, retry, False))
        if retry and link.warning is not None and len(data) > data[0] + 3:
            tries.append((data[:-2], False, True))
        for frame, again, relayed in tries:
            try:
                other = self._walk(frame, key, again, format_b=relayed)
            except DecodeError:
                continue
            if isinstance(other, _Pending) and not other.layout.warnings:
                if relayed:
                    other.out.link_warning = _relayed_warning(data)
                return other
        return None

    # -- layers -----------------------------------------------------------------------------------

    def _decode_layers(
        self, link: LinkFrame, hdr: _Header, payload: bytes, key: bytes | None
    ) -> Telegram | _Pending:
        aes = self.keys.cipher(key) if key is not None else None
        pos = 0
        ci = payload[0]
        if ci in ELL_CIS:
            ell, pos = parse_ell(payload)
            hdr.ell = ell
            hdr.acc = ell.access_number
            if ell.session is not None:
                payload = payload[:pos] + self._ell_payload(hdr, ell, payload[pos:], aes)
                pos += 2
            if pos >= len(payload):
                raise DecodeError("too_short", "no CI after the extended link layer")
            ci = payload[pos]
        if ci == 0x90:
            afl, used = parse_afl(payload[pos:])
            hdr.afl = afl
            pos += used
            if afl.more_fragments or afl.fragment_id:
                raise DecodeError(
                    "fragment", f"AFL fragment {afl.fragment_id}, more follow: {afl.more_fragments}; not reassembled"
                )
            ci = payload[pos]
        tpl_start = pos
        pos += 1
        if ci in _ERROR_CIS:
            self._read_tpl(ci, hdr, payload, pos)
            code = payload[-1] if len(payload) > pos else 0
            text = APPLICATION_ERRORS.get(code, "reserved")
            raise DecodeError("application_error", f"meter reports application error {code}: {text}")
        if ci == 0x73 and link.kind != WMBUS:  # on wired M-Bus: the fixed data structure
            return self._fixed(link, hdr, payload[pos:])
        if ci in _SHORT_TPL or ci in _LONG_TPL or ci in (0x78, 0x79, 0x71):
            pos = self._read_tpl(ci, hdr, payload, pos)
        elif 0xA0 <= ci <= 0xB7:
            return self._vendor_only(link, hdr, ci, payload[pos:], aes)
        else:
            raise DecodeError("unsupported_ci", f"CI field {ci:02X} is not supported")
        meter_id = hdr.meter_id
        if aes is None:
            aes = self.keys.get(meter_id, hdr.m_bytes)
            if aes is None and hdr.long:
                aes = self.keys.get(link.meter_id, link.manufacturer.to_bytes(2, "little"))
        out = self._start_output(link, hdr)
        if ci in _NO_APL:
            return self._finish(out, hdr, None, [], None)
        if ci in _ALARM_CIS:
            out.alarm_code = payload[pos:].hex().upper()
            return self._finish(out, hdr, None, [], None)
        mode = (hdr.cf >> 8) & 0x1F
        if mode in UNDEFINED_SECURITY_MODES and link.kind == MBUS and aes is None:
            # the field was reserved when many wired meters were built: they fill it with anything
            out.security_warning = (
                f"configuration field {hdr.cf:04X} names no defined security mode ({mode}); read as unencrypted"
            )
            mode = 0
        link_address = link.manufacturer.to_bytes(2, "little") + link.id_bytes
        published = None
        if aes is None and mode == 5:
            published = self._published_key(out, hdr)
        try:
            apl, decrypted = self._security(hdr, mode, payload, tpl_start, pos, aes or published, link_address)
        except DecodeError as e:
            if published is not None and e.code == "decrypt_failed":
                raise DecodeError(
                    "no_key",
                    f"security mode 5; no key for meter {hdr.meter_id} (the published default key does not fit)",
                ) from None
            raise
        if published is not None and decrypted and payload[pos : pos + 2] != _FILLER:
            out.default_key = True  # (not when a receiver had already decrypted it)
        out.security_mode = mode
        out.decrypted = decrypted or link.descrambled
        if ci == 0x79:
            layout, data = self._compact(apl)
        elif ci in _COMPACT_TPL:  # after the header (and decryption): 2F 2F, signature, data CRC, data
            layout, data = self._compact(apl[2:] if apl[:2] == _FILLER else apl)
        else:
            try:
                layout, fresh = self.layouts.layout((hdr.m_bytes, hdr.a_bytes), apl, 0)
            except DecodeError as e:
                # a vendor whose payload is no record stream at all reads the payload itself
                vendor = self._vendor(out, hdr)
                if e.code not in RECORD_ERRORS or vendor is None or not vendor.reads_payload:
                    raise
                layout, fresh = parse_layout(b""), False
            if fresh and layout.format_bytes:
                self.signatures.learn(layout.format_bytes)
            data = apl
        out.more_records_follow = layout.more_records_follow
        out.warnings = layout.warnings
        return _Pending(out, hdr, layout, data, apl)

    def _published_key(self, out: Telegram, hdr: _Header) -> AesKey | None:
        """The default key a vendor publishes for its meters, for a meter without a configured key."""
        vendor = self._vendor(out, hdr)
        if vendor is None or vendor.default_key is None:
            return None
        return self.keys.cipher(vendor.default_key)

    def _read_tpl(self, ci: int, hdr: _Header, payload: bytes, pos: int) -> int:
        """Read the TPL header after the CI at pos-1; returns where the APL starts."""
        if ci in _LONG_TPL:
            end = pos + 12
            if len(payload) < end:
                raise DecodeError("too_short", "long TPL header truncated")
            hdr.a_bytes = payload[pos : pos + 4] + payload[pos + 6 : pos + 8]
            hdr.m_bytes = payload[pos + 4 : pos + 6]
            hdr.long = True
            pos += 8
        elif ci in _SHORT_TPL:
            if len(payload) < pos + 4:
                raise DecodeError("too_short", "short TPL header truncated")
        else:
            return pos
        hdr.acc = payload[pos]
        hdr.status = payload[pos + 1]
        hdr.cf = payload[pos + 2] | (payload[pos + 3] << 8)
        pos += 4
        if (hdr.cf >> 8) & 0x1F == 7:
            if len(payload) <= pos:
                raise DecodeError("too_short", "mode 7 configuration field extension missing")
            hdr.cfe = payload[pos]
            pos += 1
        return pos

    def _ell_payload(self, hdr: _Header, ell: Ell, rest: bytes, aes: AesKey | None) -> bytes:
        """Decrypt (when needed) and check the ELL payload: CRC(2 LE) ‖ data."""
        if len(rest) < 3:
            raise DecodeError("too_short", "ELL payload shorter than its CRC")
        if not ell.encrypted:
            return rest
        if aes is not None and aes.is_des:
            raise DecodeError("bad_key", "an 8-byte key is a DES key (security mode 2); the ELL uses AES")
        if _ell_crc_ok(rest):
            return rest  # a receiver already decrypted it
        if aes is None:
            aes = self.keys.get(hdr.meter_id, hdr.m_bytes)
        if aes is None:
            raise DecodeError("no_key", f"ELL AES-CTR encrypted; no key for meter {hdr.meter_id}")
        plain = aes.ctr_crypt(ctr_prefix(hdr.m_bytes, hdr.a_bytes, ell), rest)
        if not _ell_crc_ok(plain):
            raise DecodeError("decrypt_failed", "ELL payload CRC mismatch after decryption (wrong key?)")
        return plain

    def _security(
        self,
        hdr: _Header,
        mode: int,
        payload: bytes,
        tpl_start: int,
        pos: int,
        aes: AesKey | None,
        link_address: bytes,
    ) -> tuple[bytes, bool]:
        rest = payload[pos:]
        if mode == 0:
            return rest, False
        if mode == 2:
            return self._mode2(hdr, rest, aes)
        if aes is not None and aes.is_des:
            raise DecodeError("bad_key", f"an 8-byte key is a DES key (security mode 2); this telegram uses mode {mode}")
        if mode not in (5, 7):
            if rest[:2] == _FILLER:
                return rest, True
            raise DecodeError("unsupported_security", f"security mode {mode} is not supported")
        blocks = (hdr.cf >> 4) & 0x0F
        length = 16 * blocks if blocks else len(rest) // 16 * 16
        if length > len(rest):
            raise DecodeError("too_short", f"{blocks} encrypted blocks declared, {len(rest)} bytes present")
        if aes is None:
            if rest[:2] == _FILLER:
                return rest, True
            raise DecodeError("no_key", f"security mode {mode}; no key for meter {hdr.meter_id}")
        if length == 0:
            raise DecodeError("decrypt_failed", "encrypted telegram without a whole encrypted block")
        enc, tail = rest[:length], rest[length:]
        plain: bytes | None
        if mode == 5:
            plain = aes.cbc_decrypt(mode5_iv(hdr.m_bytes, hdr.a_bytes, hdr.acc or 0), enc)
        else:
            plain = self._mode7(hdr, aes, payload[tpl_start:], enc, rest, link_address)
            if plain is None:
                return rest, True
        if plain[:2] != _FILLER:
            if rest[:2] == _FILLER:
                return rest, True
            raise DecodeError("decrypt_failed", "decrypted payload does not start with 2F2F (wrong key?)")
        return plain + tail, True

    def _mode2(self, hdr: _Header, rest: bytes, key: AesKey | None) -> tuple[bytes, bool]:
        """Security mode 2 (DES-CBC, deprecated): an 8-byte key, IV 0, everything after the header in
        whole 8-byte blocks (the configuration field's block count is not used), then 2F 2F."""
        if rest[:2] == _FILLER:
            return rest, True  # already decrypted
        if key is None:
            raise DecodeError("no_key", f"security mode 2 (DES); no key for meter {hdr.meter_id}")
        if not key.is_des:
            raise DecodeError("bad_key", "security mode 2 is DES: its key has 16 hex digits, not 32")
        length = len(rest) // 8 * 8
        if length == 0:
            raise DecodeError("decrypt_failed", "DES telegram without a whole 8-byte block")
        plain = key.cbc_decrypt(bytes(8), rest[:length])
        if plain[:2] != _FILLER:
            raise DecodeError("decrypt_failed", "decrypted payload does not start with 2F2F (wrong key?)")
        return plain + rest[length:], True

    def _mode7(
        self, hdr: _Header, aes: AesKey, tpl: bytes, enc: bytes, rest: bytes, link_address: bytes
    ) -> bytes | None:
        """Mode 7: KDF-A keys, AFL MAC check, counter replay check, CBC with IV 0.

        Returns None when the payload was already decrypted by the receiver."""
        afl = hdr.afl
        if afl is None or afl.counter is None:
            raise DecodeError("decrypt_failed", "mode 7 needs an AFL with a message counter")
        if hdr.cfe is not None and (hdr.cfe >> 4) & 0x03 != 1:
            raise DecodeError("unsupported_security", f"key derivation {(hdr.cfe >> 4) & 3} is not KDF-A")
        # Counters are tracked per meter and link path: the same telegram relayed by an adapter is not a replay.
        meter_id = f"{hdr.meter_id}/{link_address.hex().upper()}"
        kenc, kmac = derive_mode7_keys(aes, afl.counter, hdr.a_bytes[:4])
        if afl.mac is not None:
            mac = kmac.cmac(afl.mac_input_prefix() + tpl)[: len(afl.mac)]
            if mac != afl.mac:
                if rest[:2] == _FILLER:
                    return None
                raise DecodeError("mac_mismatch", "AFL MAC does not match (wrong key or altered telegram)")
        counter = int.from_bytes(afl.counter, "little")
        last = self.counters.get(meter_id)
        if last is not None and counter <= last:
            raise DecodeError("replay", f"message counter {counter} not above last seen {last}")
        plain = kenc.cbc_decrypt(ZERO_IV, enc)
        if plain[:2] == _FILLER:
            self.counters[meter_id] = counter
        return plain

    def _compact(self, apl: bytes) -> tuple[Layout, bytes]:
        if len(apl) < 4:
            raise DecodeError("too_short", "compact frame without signature")
        sig = apl[0] | (apl[1] << 8)
        layout = self.signatures.layout(sig)
        if layout is None:
            raise DecodeError("unknown_signature", f"compact frame format signature {sig:04X} not known yet")
        data = apl[4:]
        need = layout.data_length
        if len(data) < need:
            raise DecodeError("truncated_record", f"compact frame has {len(data)} data bytes, format needs {need}")
        return layout, data

    # -- output -----------------------------------------------------------------------------------

    def _start_output(self, link: LinkFrame, hdr: _Header) -> Telegram:
        ident_key = (hdr.m_bytes, hdr.a_bytes, link.manufacturer, link.id_bytes, link.version, link.device_type)
        known = self._identities.get(ident_key)
        if known is None:
            adapter = self._adapter(link, hdr) if hdr.long and link.kind == WMBUS else None
            known = self._identity(link, hdr), adapter
            if len(self._identities) >= 100_000:
                self._identities.clear()
            self._identities[ident_key] = known
        ident, adapter = known
        out = Telegram(link.kind, *ident, access_number=hdr.acc, status=hdr.status, adapter=adapter,
                       link_warning=link.warning)  # fmt: skip
        if link.kind == MBUS:
            out.address = link.address
        return out

    @staticmethod
    def _identity(link: LinkFrame, hdr: _Header) -> _Identity:
        if link.kind == MBUS and not hdr.long:
            return None, None, None, None, None
        m = hdr.m_bytes[0] | (hdr.m_bytes[1] << 8)
        device_type = hdr.a_bytes[5]
        return hdr.meter_id, decode_manufacturer(m), hdr.a_bytes[4], device_type, medium_name(device_type)

    @staticmethod
    def _adapter(link: LinkFrame, hdr: _Header) -> Adapter | None:
        """The radio adapter's link-layer identity, when a TPL long header names another device."""
        dll = link.id_bytes + bytes([link.version, link.device_type])
        m = hdr.m_bytes[0] | (hdr.m_bytes[1] << 8)
        if dll == hdr.a_bytes and link.manufacturer == m and link.device_type not in ADAPTER_TYPES:
            return None
        return Adapter(link.meter_id, decode_manufacturer(link.manufacturer), link.version, link.device_type)

    def _finish(self, out: Telegram, hdr: _Header, layout: Layout | None, records: list[Record], apl: bytes | None) -> Telegram:
        if layout is not None and layout.total_index is not None:  # whatever the device type says
            out.total_m3 = records[layout.total_index].value
        out.records = records
        out.alarms = status_alarms(hdr.status) if hdr.status else []
        vendor = self._vendor(out, hdr)
        if vendor is not None and apl is not None:
            self._vendor_reading(out, vendor, VendorInput(out, apl, hdr.status or 0, dll=hdr.dll))
        if out.alarms:
            out.alarms = normalise(out.alarms)
        return out

    @staticmethod
    def _vendor_reading(out: Telegram, vendor: VendorDecoder, given: VendorInput) -> bool:
        """What the vendor decoder read, into the telegram; False when it read nothing."""
        found = vendor.apply(given)
        if found is None:
            return False
        if found.warning is not None:
            out.vendor_warning = found.warning
        if not found.read:
            return False
        out.records = (out.records if found.own is None else found.own) + found.records
        if found.total_m3 is not None:
            out.total_m3 = found.total_m3
        out.alarms = out.alarms + found.alarms
        out.driver = found.model or vendor.name
        for name, field in _CORRECTIONS:  # what the vendor reads otherwise than the standard layers
            value = getattr(found, name)
            if value is not None:
                setattr(out, field, value)
        out.vendor_default_key = found.default_key
        if found.alarm_durations:
            out.alarm_durations = found.alarm_durations
        return True

    def _fixed(self, link: LinkFrame, hdr: _Header, data: bytes) -> Telegram:
        fixed = decode_fixed(data)
        total = next((r.value for r in fixed.records if r.quantity == "volume" and r.storage == 0), None)
        medium = medium_name(fixed.medium_code)
        return Telegram(link.kind, fixed.meter_id, None, None, fixed.medium_code, medium, fixed.access_number,
                        fixed.status, records=fixed.records, total_m3=total, alarms=fixed.alarms,
                        address=link.address if link.kind == MBUS else None, fixed_format=True)  # fmt: skip

    def _vendor_only(self, link: LinkFrame, hdr: _Header, ci: int, data: bytes, aes: AesKey | None) -> Telegram:
        """Manufacturer-specific CI: only a vendor decoder can read it."""
        out = self._start_output(link, hdr)
        vendor = self._vendor(out, hdr)
        if vendor is None or not vendor.handles_ci(ci):
            raise DecodeError("unsupported_ci", f"manufacturer-specific CI {ci:02X} and no vendor decoder for it")
        key = aes or self.keys.get(hdr.meter_id, hdr.m_bytes)
        given = VendorInput(out, data, hdr.status or 0, ci=ci, key=key, dll=hdr.dll)
        if not self._vendor_reading(out, vendor, given):
            raise DecodeError("unsupported_ci", f"{vendor.name} cannot read CI {ci:02X} of this telegram")
        out.alarms = normalise(out.alarms)
        return out

    @staticmethod
    def _control_frame(link: LinkFrame) -> ControlFrame:
        if link.kind == MBUS_SHORT:
            return ControlFrame(link.kind, link.c_field, link.address)
        return ControlFrame(link.kind)


def _relayed_warning(data: bytes) -> str:
    """What a frame relayed with its CRC but not its L fixed says of itself, read without the CRC."""
    return (f"L field says {data[0]} bytes follow but {len(data) - 1} were received;"
            " the last 2 are not records and were ignored")


def _ell_crc_ok(payload: bytes) -> bool:
    """ELL payload: CRC-16 (LE) of the bytes after it."""
    return crc16_en13757(payload[2:]) == payload[0] | (payload[1] << 8)
