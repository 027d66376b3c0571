"""Application layer records (DIB/VIB + data), parsed once into a reusable Layout.

A Layout holds, per record, where its data lies and how to turn those bytes into a value. Parsing the
DIF/VIF structure is the expensive part; the same meter sends the same structure again and again, so
callers keep Layouts (see LayoutCache) and only extract values for later telegrams. The same Layout
serves compact frames, whose data comes without DIF/VIF bytes.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from meterd.jsonio import dumps
from meterd.wmbus import datatypes as dt
from meterd.wmbus import vif as V
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.result import Record, Value

Converter = Callable[[Any], Value]

FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
# Data length per DIF data field code; None = variable (LVAR), -1 = special function.
_DATA_LENGTH = (0, 1, 2, 3, 4, 4, 6, 8, 0, 1, 2, 3, 4, None, 6, -1)
_INT_TYPES = frozenset({1, 2, 3, 4, 6, 7})
_BCD_TYPES = frozenset({9, 10, 11, 12, 14})
MAX_DIFE = 10
MAX_VIFE = 10


@dataclass(slots=True)
class RecordSpec:
    """One record: where its data lies, how it is unpacked, and the fields that do not depend on it."""

    start: int
    length: int | None  # None: to the end of the buffer (manufacturer-specific tail)
    code: str  # struct code for the raw field ("h", "4s", ...)
    post: Converter | None  # raw → value; None when the raw integer is the value
    record: Record  # the record with every field but its value

    def with_value(self, value: Value) -> Record:
        r = self.record
        return Record(r.storage, r.tariff, r.subunit, r.function, r.quantity, r.unit, value, r.dif, r.vif,
                      r.modifiers, r.error)  # fmt: skip


class Layout:
    """The parsed structure of one APL; `matches` tells whether another APL shares it.

    Values of all records are read with one precompiled struct per buffer length, then converted;
    records can be produced as dicts or directly as JSON text (the command line's fast path).
    """

    __slots__ = (
        "_compiled",
        "_getter",
        "expected",
        "format_bytes",
        "more_records_follow",
        "specs",
        "structure",
        "total_index",
        "warnings",
    )

    def __init__(
        self,
        specs: tuple[RecordSpec, ...],
        format_bytes: bytes,
        more_records_follow: bool = False,
        total_index: int | None = None,
    ) -> None:
        self.specs = specs
        self.format_bytes = format_bytes  # DIB/VIB bytes of all records: input of the format signature
        self.more_records_follow = more_records_follow
        self.total_index = total_index  # index into specs of the main volume register
        self.structure: tuple[int, ...] = ()  # positions of DIF/VIF/LVAR/filler bytes in a full frame
        self.expected: tuple[int, ...] = ()  # their values
        self._getter: Callable[[bytes], object] | None = None
        self._compiled: dict[int, _Compiled] = {}
        self.warnings: tuple[str, ...] = ()  # what lenient parsing passed over (trailing_bytes, ...)

    def matches(self, buf: bytes) -> bool:
        getter = self._getter
        return getter is None or getter(buf) == self.expected

    @property
    def data_length(self) -> int:
        """Bytes of data needed (without a manufacturer-specific tail)."""
        return max((s.start + (s.length or 0) for s in self.specs), default=0)

    def _compile(self, size: int) -> _Compiled:
        compiled = self._compiled.get(size)
        if compiled is None:
            compiled = self._compiled[size] = _Compiled(self.specs, size)
        return compiled

    def values(self, buf: bytes) -> list[Value]:
        return self._compile(len(buf)).values(buf)

    def extract(self, buf: bytes) -> list[Record]:
        values = self._compile(len(buf)).values(buf)
        return [spec.with_value(v) for spec, v in zip(self.specs, values, strict=True)]

    def records_json(self, values: list[Value], size: int) -> str:
        return interleave(self._compile(size).json_pieces, [_json_value(v) for v in values])


class _Compiled:
    """A layout bound to one buffer size: the struct and converters to read every record at once."""

    __slots__ = ("json_pieces", "posts", "unpack")

    def __init__(self, specs: tuple[RecordSpec, ...], size: int) -> None:
        fmt = ["<"]
        cursor = 0
        posts: list[tuple[int, Converter]] = []
        pieces = ["["]
        for i, spec in enumerate(specs):
            if spec.start > cursor:
                fmt.append(f"{spec.start - cursor}x")
            code = spec.code
            if spec.length is None:
                code = f"{max(size - spec.start, 0)}s"
                cursor = max(size, spec.start)
            else:
                cursor = spec.start + spec.length
            fmt.append(code)
            if spec.post is not None:
                posts.append((i, spec.post))
            before, after = orjson.dumps(spec.with_value(_PLACEHOLDER).to_dict()).decode().split(f'"{_PLACEHOLDER}"')
            pieces[-1] += ("," if i else "") + before
            pieces.append(after)
        self.unpack = struct.Struct("".join(fmt)).unpack_from
        self.posts = tuple(posts)
        pieces[-1] += "]"
        self.json_pieces = pieces

    def values(self, buf: bytes) -> list[Value]:
        values: list[Value] = list(self.unpack(buf))
        for i, post in self.posts:
            values[i] = post(values[i])  # type: ignore[arg-type]
        return values


_PLACEHOLDER = "@@meterd-value@@"


def interleave(pieces: list[str], values: list[str] | tuple[str, ...]) -> str:
    """pieces[0] + values[0] + pieces[1] + ... + pieces[-1]: the fast way to fill a JSON template."""
    parts: list[str] = [""] * (2 * len(pieces) - 1)
    parts[0::2] = pieces
    parts[1::2] = values
    return "".join(parts)


def _json_value(v: Value) -> str:
    t = type(v)
    if t is int:
        return str(v)
    if t is float:
        return repr(v)
    if v is None:
        return "null"
    return dumps(v).decode()


def _scaler(exp: int, factor: int) -> tuple[int, int]:
    """(multiplier, divisor) so that raw*mul/div is correctly rounded for decimal scales."""
    if exp >= 0:
        return factor * 10**exp, 1
    return factor, 10**-exp




def _scale(mul: int, div: int) -> Converter | None:
    if div == 1:
        if mul == 1:
            return None
        return lambda v: (v * mul)
    return lambda v: v * mul / div  # type: ignore[operator]


def _int_field(length: int, signed: bool, mul: int, div: int) -> tuple[str, Converter | None]:
    code = _INT_CODES.get(length)
    if code is not None:
        return (code if signed else code.upper()), _scale(mul, div)
    scale = _scale(mul, div)

    def wide(b: bytes) -> Value:
        v = int.from_bytes(b, "little", signed=signed)
        return v if scale is None else scale(v)

    return f"{length}s", wide


_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


def _bcd_field(length: int, mul: int, div: int) -> tuple[str, Converter]:
    def bcd(b: bytes) -> Value:
        v = dt.bcd_value(b)
        if v is None:
            return None
        return (v * mul) if div == 1 else v * mul / div

    return f"{length}s", bcd


def _real_field(mul: int, div: int) -> tuple[str, Converter]:
    def real(v: Value) -> Value:
        if v != v or v in (_INF, -_INF):
            return None
        return v * mul / div  # type: ignore[operator]

    return "f", real  # type: ignore[return-value]


_INF = float("inf")


def _none(_: object) -> Value:
    return None


def _hex(b: bytes) -> Value:
    return b.hex().upper()


def _lvar_field(lvar: int, length: int, mul: int, div: int) -> tuple[str, Converter]:
    def convert(b: bytes) -> Value:
        v = dt.lvar_value(lvar, b)
        if isinstance(v, int):
            return (v * mul) if div == 1 else v * mul / div
        return v

    return f"{length}s", convert


@dataclass(slots=True)
class _Vib:
    info: V.VifInfo
    exp_adjust: int = 0
    modifiers: list[str] = field(default_factory=list)
    error: str | None = None
    is_datetime: bool = False
    text_unit: str | None = None
    text_span: tuple[int, int] = (0, 0)  # where the plain-text unit (length byte and text) lies in the frame


def _read_vib(buf: bytes, p: int, n: int, positions: list[int] | None) -> tuple[_Vib, int]:
    """Parse VIF and VIFEs starting at p; returns the meaning and the position after them."""
    if p >= n:
        raise DecodeError("truncated_record", "record ends before its VIF")
    vif = buf[p]
    if positions is not None:
        positions.append(p)
    p += 1
    code = vif & 0x7F
    ext = vif & 0x80
    plain_text = False
    if (code == 0x7B or code == 0x7D) and ext:
        if p >= n:
            raise DecodeError("truncated_record", "record ends inside its VIF extension")
        second = buf[p]
        if positions is not None:
            positions.append(p)
        p += 1
        table = V.FB_TABLE if code == 0x7B else V.FD_TABLE
        info = table.get(second & 0x7F, V.UNKNOWN)
        ext = second & 0x80
    elif code == 0x7C:
        info = V.PLAIN_TEXT
        plain_text = True
    else:  # a bare 0x7B/0x7D or a reserved code: no meaning of its own, kept raw (the DIF gives the length)
        info = V.PRIMARY.get(code, V.UNKNOWN) if code not in (0x7B, 0x7D) else V.UNKNOWN
    if plain_text and ext:
        return _read_plain_text_vib(buf, p, n, positions, info)
    vib = _Vib(info)
    p = _read_vifes(buf, p, n, positions, vib, bool(ext), code == 0x7F)
    if plain_text:
        p = _read_text_unit(buf, p, n, positions, vib)
    return vib, p


def _read_vifes(
    buf: bytes, p: int, n: int, positions: list[int] | None, vib: _Vib, ext: bool, manufacturer_vifes: bool
) -> int:
    """The VIFE chain from p into `vib`; returns the position after it. A VIFE meterd does not know is
    listed in `modifiers` and leaves the base quantity and unit as they are."""
    count = 0
    combinable_extension = False
    while ext:
        if p >= n:
            raise DecodeError("truncated_record", "record ends inside its VIFEs")
        count += 1
        if count > MAX_VIFE:
            raise DecodeError("bad_record", f"more than {MAX_VIFE} VIFEs")
        vife = buf[p]
        if positions is not None:
            positions.append(p)
        p += 1
        ext = bool(vife & 0x80)
        c = vife & 0x7F
        if manufacturer_vifes:
            continue
        if combinable_extension:  # a code of the extension table of combinable VIFEs (after 0x7C/0xFC)
            vib.modifiers.append(f"vife_7c_{c:02x}")
            combinable_extension = False
        elif c == 0x7F:
            manufacturer_vifes = True
            vib.modifiers.append("manufacturer_specific")
        elif c == 0x7C:
            combinable_extension = True
        elif c in (0x1E, 0x1F):  # OMS: the data is a compact profile (a series of increments), not one value
            vib.modifiers.append("compact_profile_with_register" if c == 0x1E else "compact_profile")
        elif c < 0x20:
            vib.error = V.RECORD_ERRORS.get(c, f"reserved_{c:02x}")
        elif 0x70 <= c <= 0x77:
            vib.exp_adjust += (c & 0x07) - 6
        elif c == 0x7D:
            vib.exp_adjust += 3
        elif 0x78 <= c <= 0x7B:
            vib.modifiers.append("additive_correction")
            vib.exp_adjust += (c & 0x03) - 3
        else:
            vib.modifiers.append(V.MODIFIERS.get(c, f"vife_{c:02x}"))
            if c in V.DATETIME_MODIFIERS:
                vib.is_datetime = True
    return p


def _read_text_unit(buf: bytes, p: int, n: int, positions: list[int] | None, vib: _Vib) -> int:
    """The length byte and the text of a plain-text VIF (stored last character first)."""
    if p >= n:
        raise DecodeError("truncated_record", "record ends before its plain-text VIF")
    length = buf[p]
    if p + 1 + length > n:
        raise DecodeError("truncated_record", "plain-text VIF runs past the end")
    text = buf[p + 1 : p + 1 + length]
    if positions is not None:
        positions.extend(range(p, p + 1 + length))
    vib.text_unit = text[::-1].decode("latin-1")
    vib.text_span = (p, p + 1 + length)
    return p + 1 + length


def _printable(vib: _Vib) -> bool:
    return vib.text_unit is not None and all(" " <= ch <= "~" for ch in vib.text_unit)


def _read_plain_text_vib(
    buf: bytes, p: int, n: int, positions: list[int] | None, info: V.VifInfo
) -> tuple[_Vib, int]:
    """VIF 0xFC: the standard puts its VIFEs first and then the length and text; meters in the field
    (Elvaco, ELV) put the length and text right after the VIF and the VIFEs after the text. Read the
    order that parses: the standard one when its text is printable, else the other."""
    tried: list[tuple[_Vib, int, list[int]]] = []
    for text_first in (False, True):
        vib = _Vib(info)
        taken: list[int] = []
        try:
            if text_first:
                q = _read_text_unit(buf, p, n, taken, vib)
                q = _read_vifes(buf, q, n, taken, vib, True, False)
            else:
                q = _read_vifes(buf, p, n, taken, vib, True, False)
                q = _read_text_unit(buf, q, n, taken, vib)
        except DecodeError:
            continue
        if _printable(vib):
            if positions is not None:
                positions.extend(taken)
            return vib, q
        tried.append((vib, q, taken))
    if not tried:
        raise DecodeError("truncated_record", "plain-text VIF runs past the end in either order")
    vib, q, taken = tried[0]
    if positions is not None:
        positions.extend(taken)
    return vib, q


# identification records: their digits are the value, leading zeros included ("002081048078"), never a number
# (the ones EN 13757-3 names identification: a customer location stays a number, as the OMS examples give it)
IDENTIFIERS = frozenset({"fabrication_no", "enhanced_id", "model_version", "parameter_set_identification"})


def _bcd_digits(b: bytes) -> Value:
    return b[::-1].hex().upper()


def _int_digits(b: bytes) -> Value:
    return str(int.from_bytes(b, "little"))


def _field(dtype: int, length: int, vib: _Vib, lvar: int | None) -> tuple[str, Converter | None]:
    """The struct code and converter for one record's data."""
    info = vib.info
    if dtype in (0, 8):
        return "0s", _none
    if info.quantity in IDENTIFIERS and lvar is None and not vib.is_datetime:
        return f"{length}s", (_bcd_digits if dtype in _BCD_TYPES else _int_digits)
    if vib.is_datetime or info.kind == V.DATETIME:
        return f"{length}s", dt.datetime_value  # type: ignore[return-value]
    if info.kind == V.DATE:
        return f"{length}s", dt.date_value  # type: ignore[return-value]
    if info.kind == V.HEX:
        return f"{length}s", _hex
    mul, div = _scaler(info.exp + vib.exp_adjust, info.factor)
    post: Converter | None
    if lvar is not None:
        code, post = _lvar_field(lvar, length, mul, div)
    elif dtype in _INT_TYPES:
        code, post = _int_field(length, info.signed, mul, div)
    elif dtype in _BCD_TYPES:
        code, post = _bcd_field(length, mul, div)
    else:
        code, post = _real_field(mul, div)
    if info.kind in (V.FAHRENHEIT, V.FAHRENHEIT_DIFF):
        return code, _from_fahrenheit(post, info.kind == V.FAHRENHEIT)
    return code, post


def _from_fahrenheit(post: Converter | None, absolute: bool) -> Converter:
    """°F → °C (absolute) or °F difference → K, after the VIF's decimal scale."""

    def convert(raw: Any) -> Value:
        v = post(raw) if post is not None else raw
        if not isinstance(v, int | float):
            return None
        return round((v - 32) * 5 / 9 if absolute else v * 5 / 9, 6)

    return convert


def parse_layout(buf: bytes, start: int = 0, *, compact: bool = False, lenient: bool = True) -> Layout:
    """Parse records from buf[start:]. `lenient`: a reserved special DIF or a last record that runs past
    the end, after good records, ends the list with a warning instead of failing (off where parsing
    decides whether bytes are records at all, as in trying keys).

    compact=False: buf holds DIB/VIB and data interleaved (a full frame); data offsets index buf.
    compact=True: buf holds only DIB/VIB bytes (a format from the signature cache); data offsets
    index the separate data part of a compact frame.
    """
    n = len(buf)
    p = start
    data_pos = 0
    specs: list[RecordSpec] = []
    positions: list[int] | None = None if compact else []
    fmt = bytearray()
    more = False
    total_index: int | None = None
    warnings: list[str] = []
    fallback: set[int] = set()  # total_index is a fallback (a qualified volume) that a plain one replaces
    while p < n:
        rec_start = p
        dif = buf[p]
        if dif == 0x2F:
            if positions is not None:
                positions.append(p)
            p += 1
            continue
        dtype = dif & 0x0F
        if dtype == 0x0F:
            if positions is not None:
                positions.append(p)
            p += 1
            if dif in (0x0F, 0x1F):
                more = dif == 0x1F
                if compact:
                    break
                if p < n:
                    tail = Record(0, 0, 0, "instantaneous", "manufacturer_specific", None, None, f"{dif:02X}")
                    specs.append(RecordSpec(p, None, "0s", _hex, tail))
                break
            if dif == 0x7F:
                continue
            if specs and lenient and not compact:  # after good records: they stand, the rest is passed over
                warnings.append("trailing_bytes")
                break
            raise DecodeError("bad_record", f"reserved special DIF {dif:02X}")
        kept = (len(positions) if positions is not None else 0, len(fmt), total_index, set(fallback))
        try:
            storage = (dif >> 6) & 1
            function = FUNCTIONS[(dif >> 4) & 3]
            tariff = 0
            subunit = 0
            ext = dif & 0x80
            k = 0
            if positions is not None:
                positions.append(p)
            p += 1
            while ext:
                if p >= n:
                    raise DecodeError("truncated_record", "record ends inside its DIFEs")
                if k >= MAX_DIFE:
                    raise DecodeError("bad_record", f"more than {MAX_DIFE} DIFEs")
                dife = buf[p]
                if positions is not None:
                    positions.append(p)
                p += 1
                storage |= (dife & 0x0F) << (1 + 4 * k)
                tariff |= ((dife >> 4) & 0x03) << (2 * k)
                subunit |= ((dife >> 6) & 0x01) << k
                ext = dife & 0x80
                k += 1
            dif_end = p
            vib, p = _read_vib(buf, p, n, positions)
            if vib.text_unit is None:
                vif_hex = buf[dif_end:p].hex().upper()
            else:  # the VIB without the text, wherever the text stood
                a, b = vib.text_span
                vif_hex = (buf[dif_end:a] + buf[b:p]).hex().upper()
            length = _DATA_LENGTH[dtype]
            lvar: int | None = None
            fmt += buf[rec_start:p]
            if length is None:
                if compact:
                    raise DecodeError("bad_record", "variable-length data cannot appear in a compact frame")
                if p >= n:
                    raise DecodeError("truncated_record", "record ends before its LVAR byte")
                lvar = buf[p]
                if positions is not None:
                    positions.append(p)
                p += 1
                length = dt.lvar_length(lvar)
                if length is None:
                    raise DecodeError("bad_record", f"reserved LVAR {lvar:02X}")
            if compact:
                d_start = data_pos
                data_pos += length
            else:
                d_start = p
                p += length
                if p > n:
                    raise DecodeError(
                        "truncated_record",
                        f"record DIF {dif:02X} VIF {vif_hex} needs {length} data bytes, {n - d_start} left",
                    )
            info = vib.info
            quantity = info.quantity
            unit = None if vib.is_datetime else vib.text_unit if vib.text_unit is not None else info.unit
            profile = next((m for m in vib.modifiers if m.startswith("compact_profile")), None)
            if profile is not None:  # a quantity of its own: never a volume in m3 with text for a value
                quantity, unit = f"{info.quantity}_{profile}", None
            error = vib.error if vib.error is not None and vib.error != "none" else None
            record = Record(storage, tariff, subunit, function, quantity, unit, None, buf[rec_start:dif_end].hex().upper(),
                            vif_hex, list(vib.modifiers) or None, error)  # fmt: skip
            candidate = (
                info.quantity == "volume"
                and info.unit == "m3"
                and storage == 0
                and tariff == 0
                and subunit == 0
                and function == "instantaneous"
                and error is None
                and dtype not in (0, 8)
            )
            if candidate and not vib.modifiers and (total_index is None or total_index in fallback):
                total_index = len(specs)  # the main volume register (over a fallback found before it)
                fallback.clear()
            elif candidate and vib.modifiers in (["uncorrected"], ["value_at_base_conditions"]) and total_index is None:
                total_index = len(specs)  # a volume qualified by VIFE 0x3A or 0x3E, while there is no plain one
                fallback.add(total_index)
            code, post = _field(dtype, length, vib, lvar)
            specs.append(RecordSpec(d_start, length, code, post, record))
        except DecodeError as e:
            if e.code != "truncated_record" or not specs or compact or not lenient:
                raise
            # the last record runs past the end: dropped, the records before it stand. The bytes read of
            # it stay in the structure: a cached layout matches only frames that end the same way.
            if positions is not None and (not positions[kept[0] :] or positions[kept[0]] != rec_start):
                positions.insert(kept[0], rec_start)
            del fmt[kept[1] :]
            total_index, fallback = kept[2], kept[3]
            warnings.append("truncated_last_record")
            break
    layout = Layout(tuple(specs), bytes(fmt), more, total_index)
    layout.warnings = tuple(warnings)
    if positions:
        layout.structure = tuple(positions)
        layout.expected = tuple(buf[i] for i in positions)
        layout._getter = _make_getter(positions)
    return layout


def _make_getter(positions: list[int]) -> Callable[[bytes], object]:
    """A C-speed reader of the structural bytes, returning a tuple comparable with Layout.expected."""
    if len(positions) == 1:
        single = operator.itemgetter(positions[0])
        return lambda b: (single(b),)
    return operator.itemgetter(*positions)


class LayoutCache:
    """Remembers the Layout per (meter, APL length) so repeated telegrams skip DIF/VIF parsing; a meter
    heard for the first time takes the layout of another meter whose APL has its length and the same
    bytes at every place that decides the structure (meters of one model send the same records)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._layouts: dict[object, Layout] = {}
        self._shapes: dict[tuple[int, int, int], Layout] = {}  # (length, start, first DIF) → the last layout
        self._max = max_entries

    def layout(self, key: object, buf: bytes, start: int) -> tuple[Layout, bool]:
        """The layout of buf[start:]; the flag is True when it was parsed anew."""
        full_key = (key, len(buf), start)
        layout = self._layouts.get(full_key)
        if layout is not None and layout.matches(buf):
            return layout, False
        shape = (len(buf), start, buf[start] if start < len(buf) else -1)
        shared = self._shapes.get(shape)
        if shared is not None and shared._getter is not None and shared.matches(buf):
            layout, fresh = shared, False
        else:
            layout, fresh = parse_layout(buf, start), True
        if len(self._layouts) >= self._max:
            self._layouts.clear()
            self._shapes.clear()
        self._layouts[full_key] = layout
        self._shapes[shape] = layout
        return layout, fresh
