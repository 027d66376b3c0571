"""Vectorised batch decoding: many telegrams of one shape decoded with numpy, column by column.

Telegrams are grouped by shape (length, CRC format, CI, configuration field). For each group one
prototype goes through the scalar decoder; it tells whether the group is encrypted (mode 5) and how
its records are laid out. The group is then a 2-D byte matrix: CRC columns dropped, AES once per key,
layout checked and values extracted per record column. Rows that do not fit the prototype and shapes
the vectorised path does not cover (ELL, AFL, long headers, compact frames, wired M-Bus, vendor
payloads, a key given per telegram) go to the scalar decoder, in input order, so every row equals
what `Decoder.decode` returns.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from meterd.jsonio import dumps
from meterd.wmbus.alarms import status_alarms
from meterd.wmbus.crc import crc16_en13757_rows
from meterd.wmbus.decoder import Decoder, _Pending
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.link import LinkFrame, _format_b_ok, format_a_blocks, format_a_length, parse_link
from meterd.wmbus.manufacturer import decode_manufacturer
from meterd.wmbus.records import Layout, RecordSpec, _json_value
from meterd.wmbus.result import TelegramDict, finish, identity, json_pieces, start
from meterd.wmbus.vendors import VendorContext, VendorDecoder

U8 = npt.NDArray[np.uint8]
MIN_GROUP = 8


@dataclass
class Group:
    """Rows decoded together: `columns[i]` holds record i's values for these rows."""

    rows: npt.NDArray[np.intp]
    layout: Layout
    security_mode: int
    columns: list[npt.NDArray[Any]]
    meter_ids: npt.NDArray[np.str_]
    manufacturers: npt.NDArray[np.uint16]
    versions: U8
    device_types: U8
    access_numbers: U8
    statuses: U8

    def identity(self, j: int) -> dict[str, Any]:
        return identity(
            str(self.meter_ids[j]),
            decode_manufacturer(int(self.manufacturers[j])),
            int(self.versions[j]),
            int(self.device_types[j]),
        )

    def head(self, j: int) -> TelegramDict:
        """Row j's decoded telegram up to its records."""
        mode = self.security_mode
        out = start("wmbus", self.identity(j), int(self.access_numbers[j]), int(self.statuses[j]),
                    security_mode=mode, decrypted=mode != 0)  # fmt: skip
        if self.layout.more_records_follow:
            out["more_records_follow"] = True
        return out

    def telegram(self, j: int) -> TelegramDict:
        """Row j as the object `Decoder.decode` returns."""
        return _row_dict(self, j)

    def has_total(self) -> npt.NDArray[np.bool_]:
        if self.layout.total_index is None:
            return np.zeros(len(self.rows), dtype=bool)
        return np.ones(len(self.rows), dtype=bool)  # the main volume register, whatever the device type


@dataclass
class BatchResult:
    size: int
    ok: npt.NDArray[np.bool_]
    total_m3: npt.NDArray[np.float64]  # NaN where there is none
    groups: list[Group] = field(default_factory=list)
    scalar: dict[int, TelegramDict] = field(default_factory=dict)  # rows decoded one by one

    @property
    def vectorised_rows(self) -> int:
        return sum(len(g.rows) for g in self.groups)

    def telegram(self, i: int) -> TelegramDict:
        """Row i as the same object `Decoder.decode_hex` returns."""
        if i in self.scalar:
            return self.scalar[i]
        for g in self.groups:
            hit = np.flatnonzero(g.rows == i)
            if hit.size:
                return g.telegram(int(hit[0]))
        raise IndexError(i)

    def telegrams(self) -> list[TelegramDict]:
        """Every row as the object `Decoder.decode_hex` returns, in input order."""
        out: list[TelegramDict | None] = [None] * self.size
        for i, obj in self.scalar.items():
            out[i] = obj
        for g in self.groups:
            for j, i in enumerate(g.rows.tolist()):
                out[i] = _row_dict(g, j)
        return [o if o is not None else internal_error("row not decoded") for o in out]

    def json_lines(self) -> list[str]:
        """Every row as one JSON object, in input order. Whatever fails while writing a row makes that
        row an `internal_error` and touches no other row."""
        lines: list[str] = [""] * self.size
        for i, obj in self.scalar.items():
            lines[i] = _row_json(obj)
        for g in self.groups:
            try:
                group_lines = _group_json(g)
            except Exception:  # one row at a time, so a failure stays with its row
                group_lines = [_row_json_safe(g, j) for j in range(len(g.rows))]
            for i, line in zip(g.rows.tolist(), group_lines, strict=True):
                lines[i] = line
        return lines


def internal_error(what: str) -> TelegramDict:
    return DecodeError("internal_error", what).to_dict()


def _row_json(obj: TelegramDict) -> str:
    try:
        return dumps(obj).decode()
    except Exception as e:
        return dumps(internal_error(f"{type(e).__name__} while writing the result")).decode()


def _row_json_safe(g: Group, j: int) -> str:
    try:
        return _row_json(_row_dict(g, j))
    except Exception as e:
        return dumps(internal_error(f"{type(e).__name__} while writing the result")).decode()


def decode_batch(
    decoder: Decoder,
    frames: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    errors: dict[int, TelegramDict] | None = None,
) -> BatchResult:
    """Decode frames (None rows take their object from `errors`); rows with a key of their own, and
    rows outside the vectorised groups, are decoded one by one in input order."""
    n = len(frames)
    result = BatchResult(n, np.zeros(n, dtype=bool), np.full(n, np.nan))
    for i, obj in (errors or {}).items():
        result.scalar[i] = obj
    shapes: dict[tuple[int, int, int, bytes], list[int]] = defaultdict(list)
    scalar_rows: list[int] = []
    for i, f in enumerate(frames):
        if f is None:
            continue
        size = len(f)
        # more than the link header, CI and short TPL header (15 bytes): a telegram of one record is
        # vectorised too; anything shorter is an error the scalar decoder names
        if size > 16 and f[0] != 0x68 and (keys is None or keys[i] is None):
            ci_at = 12 if size >= format_a_length(f[0]) else 10
            ci = f[ci_at]
            shapes[(size, ci_at, ci, f[ci_at + 3 : ci_at + 5])].append(i)
        else:
            scalar_rows.append(i)
    for (_, _, ci, _), rows in shapes.items():
        if len(rows) < MIN_GROUP or ci != 0x7A:
            scalar_rows.extend(rows)
        else:
            scalar_rows.extend(_vector_group(decoder, frames, np.array(rows, dtype=np.intp), result))
    for i in sorted(scalar_rows):
        frame = frames[i]
        assert frame is not None
        _scalar(decoder, frame, keys[i] if keys is not None else None, i, result)
    return result


def _scalar(decoder: Decoder, frame: bytes, key: bytes | None, i: int, result: BatchResult) -> None:
    try:
        out = decoder.decode(frame, key)
    except DecodeError as e:
        out = e.to_dict()
    except Exception as e:
        out = internal_error(f"{type(e).__name__} while decoding")
    result.scalar[i] = out
    result.ok[i] = out["ok"]
    total = out.get("total_m3")
    if isinstance(total, int | float):
        result.total_m3[i] = total


def _vector_group(
    decoder: Decoder, frames: Sequence[bytes | None], rows: npt.NDArray[np.intp], result: BatchResult
) -> list[int]:
    """Decode one shape group with numpy; returns the rows left for the scalar decoder."""
    everything = [int(i) for i in rows]
    found = _prototype(decoder, [frames[i] for i in everything[:PROTOTYPE_TRIES]])  # type: ignore[misc]
    if found is None:
        return everything
    proto_frame, proto, link = found
    if not isinstance(proto, _Pending) or proto.hdr.ell or proto.hdr.afl or proto.hdr.long:
        return everything
    mode = proto.out["security_mode"]
    if mode not in (0, 5) or link.crc_format not in ("A", "none") or link.warning is not None:
        return everything
    chosen: list[bytes] = [frames[i] for i in everything]  # type: ignore[misc]
    if link.crc_format == "A":
        x, keep = _strip_format_a_rows(chosen, proto_frame[0])
    else:
        size = proto_frame[0] + 1
        x = np.frombuffer(b"".join(f[:size] for f in chosen), dtype=np.uint8).reshape(len(rows), -1)
        # a frame whose last two bytes happen to be a valid format B CRC is another frame
        keep = ~_format_b_rows(x)
    keep &= (x[:, 10] == 0x7A) & (x[:, 0] == proto_frame[0])
    manufacturers = (x[:, 2].astype(np.uint16) | (x[:, 3].astype(np.uint16) << 8)).astype(np.uint16)
    idents = np.unique(np.stack([manufacturers, x[:, 8], x[:, 9]], axis=1), axis=0)
    for m, ver, dt in idents.tolist():
        vendor = decoder.vendors.find(decode_manufacturer(m), ver, dt, b"")
        if vendor is not None and _vendor_reads_layout(vendor, proto):
            keep &= ~((manufacturers == m) & (x[:, 8] == ver) & (x[:, 9] == dt))
    keep &= ~_prepared_rows(decoder, x, manufacturers, chosen)
    ids = _bcd_ids(x[:, 4:8])
    if decoder.vendors.overrides:  # a meter with its own decoder setting goes the scalar way
        keep &= ~np.isin(ids, list(decoder.vendors.overrides))
    apl: U8
    if mode == 5:
        apl, decrypted = _decrypt_mode5(decoder, x, ids, proto.hdr.cf)
        keep &= decrypted
    else:
        apl = x[:, 15:]
    layout = proto.layout
    if layout.structure:
        positions = np.array(layout.structure, dtype=np.intp)
        keep &= (apl[:, positions] == np.array(layout.expected, dtype=np.uint8)).all(axis=1)
    leftover = [int(rows[j]) for j in np.flatnonzero(~keep)]
    if not keep.any():
        return leftover
    rows, apl, ids, x, manufacturers = rows[keep], apl[keep], ids[keep], x[keep], manufacturers[keep]
    columns = [_column(spec, apl) for spec in layout.specs]
    group = Group(rows, layout, mode, columns, ids, manufacturers, x[:, 8], x[:, 9], x[:, 11], x[:, 12])
    result.groups.append(group)
    result.ok[rows] = True
    if layout.total_index is not None:
        with_total = group.has_total()
        result.total_m3[rows[with_total]] = columns[layout.total_index][with_total].astype(np.float64)
    return leftover


PROTOTYPE_TRIES = 8  # rows tried as the group's prototype: one bad row (no key, damaged) must not sink the group


def _prototype(decoder: Decoder, candidates: list[bytes]) -> tuple[bytes, TelegramDict | _Pending, LinkFrame] | None:
    """The first row that decodes without needing lenient reading, with its pending result and link frame
    (a row read leniently stands for no group: each such row goes the scalar way)."""
    for frame in candidates:
        try:
            result = decoder._walk(frame, None)
        except DecodeError:
            continue
        if isinstance(result, _Pending) and result.layout.warnings:
            continue
        return frame, result, parse_link(frame)
    return None


def _prepared_rows(
    decoder: Decoder, x: U8, m: npt.NDArray[np.uint16], frames: list[bytes]
) -> npt.NDArray[np.bool_]:
    """Rows a vendor's `prepare` changes (another address order, scrambling): the scalar decoder reads them.
    Within a group the TPL configuration is shared, so the decision is taken once per manufacturer and C field
    (`m`: the rows' manufacturer codes)."""
    changed = np.zeros(len(x), dtype=bool)
    for code, c in np.unique(np.stack([m, x[:, 1].astype(np.uint16)], axis=1), axis=0).tolist():
        rows = (m == code) & (x[:, 1] == c)
        try:
            link = parse_link(frames[int(np.flatnonzero(rows)[0])])
            same = decoder.vendors.prepare(link) is link
        except DecodeError:
            same = False
        if not same:
            changed |= rows
    return changed


def _vendor_reads_layout(vendor: VendorDecoder, proto: _Pending) -> bool:
    """Whether the vendor decoder finds its data in this layout. The rows of a group share the layout,
    so a vendor that ignores the prototype's records ignores theirs too, and numpy may decode them."""
    records = proto.layout.extract(proto.data)
    out = dict(proto.out)
    return vendor.apply(VendorContext(out, records, proto.apl, proto.hdr.status or 0, [], dll=proto.hdr.dll))


def _strip_format_a_rows(frames: list[bytes], l_field: int) -> tuple[U8, npt.NDArray[np.bool_]]:
    """Check every block CRC and drop the CRC columns, all rows at once (frames of the prototype's L;
    rows with another L fail the checks and the L comparison after)."""
    full = format_a_length(l_field)
    x = np.frombuffer(b"".join(f[:full] for f in frames), dtype=np.uint8).reshape(len(frames), -1)
    data_cols: list[int] = []
    ok = np.ones(len(frames), dtype=bool)
    for pos, size in format_a_blocks(full):
        stored = (x[:, pos + size].astype(np.uint16) << 8) | x[:, pos + size + 1]
        ok &= crc16_en13757_rows(x[:, pos : pos + size]) == stored
        data_cols.extend(range(pos, pos + size))
    return np.ascontiguousarray(x[:, data_cols]), ok


def _format_b_rows(x: U8) -> npt.NDArray[np.bool_]:
    """Rows whose last two bytes are a valid format B CRC (only possible up to 127 bytes in one block)."""
    n = x.shape[1]
    if n > 127:
        return np.array([_format_b_ok(bytes(r)) for r in x], dtype=bool)
    stored = (x[:, n - 2].astype(np.uint16) << 8) | x[:, n - 1]
    matches: npt.NDArray[np.bool_] = crc16_en13757_rows(x[:, : n - 2]) == stored
    return matches


def _bcd_ids(cols: U8) -> npt.NDArray[np.str_]:
    """ID bytes (wire order) → 8-digit strings as printed."""
    h = cols[:, ::-1].tobytes().hex().upper().encode()
    return np.frombuffer(h, dtype="S8").astype("U8")


def _decrypt_mode5(decoder: Decoder, x: U8, ids: npt.NDArray[np.str_], cf: int) -> tuple[U8, npt.NDArray[np.bool_]]:
    """AES-CBC per key in one call: P = D(C) xor (IV ‖ C shifted by a block)."""
    apl_start = 15
    blocks = (cf >> 4) & 0x0F
    length = 16 * blocks if blocks else (x.shape[1] - apl_start) // 16 * 16
    plain = x[:, apl_start:].copy()
    ok = np.zeros(len(x), dtype=bool)
    if length == 0 or length > plain.shape[1]:
        return plain, ok
    enc = x[:, apl_start : apl_start + length]
    by_key: dict[int, tuple[Any, list[int]]] = {}
    makers = x[:, 2:4]
    for j, meter_id in enumerate(ids.tolist()):
        key = decoder.keys.get(meter_id, makers[j].tobytes())
        if key is not None:
            by_key.setdefault(id(key), (key, []))[1].append(j)
        elif plain[j, 0] == 0x2F and plain[j, 1] == 0x2F:
            ok[j] = True  # already decrypted by the receiver
    for key, idx_list in by_key.values():
        idx = np.array(idx_list, dtype=np.intp)
        ct = enc[idx]
        dec = np.frombuffer(key._dec.update(ct.tobytes()), dtype=np.uint8).reshape(ct.shape)
        xi = x[idx]
        iv = np.concatenate([xi[:, 2:10], np.repeat(xi[:, 11:12], 8, axis=1)], axis=1)
        pt = dec ^ np.concatenate([iv, ct[:, :-16]], axis=1)
        good = (pt[:, 0] == 0x2F) & (pt[:, 1] == 0x2F)
        plain[idx[good], :length] = pt[good]
        ok[idx[good]] = True
    return plain, ok


def _column(spec: RecordSpec, apl: U8) -> npt.NDArray[Any]:
    """One record's values for all rows: int64/float64 for numbers, objects otherwise."""
    start, length = spec.start, spec.length
    if length is None:
        length = apl.shape[1] - start
    raw = apl[:, start : start + length]
    if spec.kind == "int" and length in (1, 2, 4, 8) and spec.mul < 1 << 20:
        kind = "i" if spec.code.islower() else "u"
        ints = np.ascontiguousarray(raw).view(f"<{kind}{length}").reshape(-1)
        # beyond 2**53 float64 cannot hold the integer exactly: leave such columns to the scalar converter
        exact = length < 8 or (not (ints > 2**53).any() and not (kind == "i" and (ints < -(2**53)).any()))
        if exact and _product_fits(spec, ints):
            return _scaled(spec, ints)
    if spec.kind == "real":
        with np.errstate(invalid="ignore"):  # signalling NaNs in the data: the scalar path reports them as null
            values = np.ascontiguousarray(raw).view("<f4").reshape(-1).astype(np.float64)
        if np.isfinite(values).all():
            return values * spec.mul / spec.div
    if spec.kind == "bcd" and length <= 8 and spec.mul < 1 << 20:
        digits = _bcd_digits(raw)
        if digits is not None and _product_fits(spec, digits):
            return _scaled(spec, digits)
    post = spec.post
    if length == 0:
        empty = np.empty(len(raw), dtype=object)
        empty[:] = [post(b"") if post else b""] * len(raw)
        return empty
    # everything else (dates, text, hex): convert each distinct raw value once
    uniq, inverse = np.unique(np.ascontiguousarray(raw).view(f"V{length}").reshape(-1), return_inverse=True)
    code = spec.code if spec.length is not None else f"{length}s"
    unpack = struct.Struct("<" + code).unpack  # the raw value the scalar converter takes
    converted = np.empty(len(uniq), dtype=object)
    converted[:] = [post(unpack(u.tobytes())[0]) if post else unpack(u.tobytes())[0] for u in uniq]
    return converted[inverse.reshape(-1)]


def _product_fits(spec: RecordSpec, values: npt.NDArray[Any]) -> bool:
    """Whether raw * mul stays within int64 for every row (else the scalar converter keeps it exact)."""
    if spec.div != 1 or spec.mul == 1 or not len(values):
        return True
    return int(np.abs(values.astype(np.float64)).max()) * spec.mul < 2**62


def _bcd_digits(raw: U8) -> npt.NDArray[np.int64] | None:
    lo = (raw & 0x0F).astype(np.int64)
    hi = (raw >> 4).astype(np.int64)
    negative = hi[:, -1] == 0x0F
    hi[negative, -1] = 0
    if (lo > 9).any() or (hi > 9).any():
        return None
    weights = 100 ** np.arange(raw.shape[1], dtype=np.int64)
    v: npt.NDArray[np.int64] = (lo * weights + hi * weights * 10).sum(axis=1)
    return np.where(negative, -v, v).astype(np.int64)


def _scaled(spec: RecordSpec, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """raw * mul / div as the scalar converters compute it (float64 division is correctly rounded)."""
    if spec.div == 1:
        return values.astype(np.int64) * spec.mul if spec.mul != 1 else values
    return values.astype(np.float64) * spec.mul / spec.div


def _alarms(status: int) -> list[str]:
    return status_alarms(status) if status else []


def _row_dict(g: Group, j: int) -> TelegramDict:
    records = []
    for spec, col in zip(g.layout.specs, g.columns, strict=True):
        v = col[j]
        records.append({**spec.template, "value": v.item() if isinstance(v, np.generic) else v})
    total = records[g.layout.total_index]["value"] if g.layout.total_index is not None else None
    return finish(g.head(j), records, total, _alarms(int(g.statuses[j])))


def _json_column(col: npt.NDArray[Any]) -> list[str]:
    """JSON text of every value in a column; each distinct value is serialised once."""
    if col.dtype.kind in "fiu":
        uniq, inverse = np.unique(col, return_inverse=True)
        text = np.array(list(map(repr if col.dtype.kind == "f" else str, uniq.tolist())), dtype=object)
        result: list[str] = text[inverse.reshape(-1)].tolist()
        return result
    cache: dict[object, str] = {}  # values here are str, int, float or None: all hashable
    out = []
    for v in col.tolist():
        text_v = cache.get(v)
        if text_v is None:
            text_v = cache[v] = _json_value(v)
        out.append(text_v)
    return out


def _group_json(g: Group) -> list[str]:
    """All rows of a group as JSON, formatted from one template (no per-record dicts)."""
    layout = g.layout
    size = max((s.start + (s.length or 0) for s in layout.specs), default=0)
    records_pieces = layout.records_json_pieces(size) if layout.specs else ["[]"]
    # the row template, cut from row 0 as the builder lays it out: identity, numbers, records, total, alarms
    head_pieces, order = json_pieces(finish(g.head(0), None, None, None), (*_IDENTITY, *_PER_ROW))
    assert order == [*_IDENTITY, *_PER_ROW], order
    records = [*records_pieces]  # the records array's own pieces, joined to the head's around it
    records[0] = head_pieces[-4] + records[0]
    records[-1] += head_pieces[-3]
    pieces = [*head_pieces[:-4], *records, *head_pieces[-2:]]
    parts: list[str] = [""] * (2 * len(pieces) - 1)
    parts[0::2] = pieces
    ident_cache: dict[tuple[int, int, int, str], tuple[str, ...]] = {}
    idents = []
    for j, (m, ver, dt, mid) in enumerate(
        zip(g.manufacturers.tolist(), g.versions.tolist(), g.device_types.tolist(), g.meter_ids.tolist(), strict=True)
    ):
        key = (m, ver, dt, mid)
        texts = ident_cache.get(key)
        if texts is None:
            ident = g.identity(j)
            texts = ident_cache[key] = tuple(dumps(ident[k]).decode() for k in _IDENTITY)
        idents.append(texts)
    alarm_cache: dict[int, str] = {}
    statuses = g.statuses.tolist()
    alarms = []
    for st in statuses:
        text = alarm_cache.get(st)
        if text is None:
            text = alarm_cache[st] = orjson.dumps(_alarms(st)).decode()
        alarms.append(text)
    value_columns = [_json_column(c) for c in g.columns]
    if layout.total_index is not None:
        with_total = g.has_total().tolist()
        totals = [v if t else "null" for v, t in zip(value_columns[layout.total_index], with_total, strict=True)]
    else:
        totals = ["null"] * len(g.rows)
    rows = zip(
        idents, map(str, g.access_numbers.tolist()), map(str, statuses), *value_columns, totals, alarms, strict=True
    )
    join = "".join
    out = []
    for ident_texts, *rest in rows:
        parts[1::2] = (*ident_texts, *rest)
        out.append(join(parts))
    return out


_IDENTITY = ("id", "manufacturer", "version", "device_type", "medium")
_PER_ROW = ("access_number", "status", "records", "total_m3", "alarms")
