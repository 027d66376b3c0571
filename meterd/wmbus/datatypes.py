"""EN 13757-3 Annex A data types: integers, BCD, real, dates G/F/I/J, variable length (LVAR)."""

from __future__ import annotations

import struct

_REAL = struct.Struct("<f")


def bcd_value(data: bytes) -> int | None:
    """Packed BCD, little-endian; a leading F nibble means negative; other non-digits → None."""
    h = data[::-1].hex()
    if h.isdecimal():  # the common case: all digits (False for an empty string)
        return int(h)
    if not h:
        return None
    negative = h[0] == "f"
    if negative:
        h = h[1:]
    if not h.isdigit():
        return None if h else 0
    v = int(h)
    return -v if negative else v


def real32(data: bytes) -> float | None:
    v: float = _REAL.unpack(data)[0]
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return v


def date_g(data: bytes) -> str | None:
    """Type G: 16-bit date."""
    day = data[0] & 0x1F
    month = data[1] & 0x0F
    year = ((data[0] & 0xE0) >> 5) | ((data[1] & 0xF0) >> 1)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{2000 + year:04d}-{month:02d}-{day:02d}"


def datetime_f(data: bytes) -> str | None:
    """Type F: 32-bit date and time to the minute; bit 7 of the first byte flags it invalid. The
    century: with the hundred-year bits (bits 5-6 of the hour byte) 0, a year up to 80 is 20yy and a
    later one 19yy (as libmbus reads EN 13757-3: 0x60 is 1996, a 7-bit year 127 is 2027); else
    1900 + 100 x hundred-years + year."""
    if data[0] & 0x80:
        return None
    minute = data[0] & 0x3F
    hour = data[1] & 0x1F
    day = data[2] & 0x1F
    month = data[3] & 0x0F
    year = ((data[2] & 0xE0) >> 5) | ((data[3] & 0xF0) >> 1)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
        return None
    hundreds = (data[1] >> 5) & 0x03
    full = (2000 + year if year <= 80 else 1900 + year) if hundreds == 0 else 1900 + 100 * hundreds + year
    return f"{full:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00"


def checked_date(year: int, month: int, day: int) -> str | None:
    """YYYY-MM-DD of a date a vendor payload carries, or None for one that is no date (day 0, month 0
    or above 12, a day the month does not have)."""
    import calendar

    if not (1 <= month <= 12 and 1 <= year <= 9999) or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def datetime_i(data: bytes) -> str | None:
    """Type I: 48-bit date and time to the second; bit 7 of the minute byte flags it invalid."""
    if data[1] & 0x80:
        return None
    second = data[0] & 0x3F
    minute = data[1] & 0x3F
    hour = data[2] & 0x1F
    day = data[3] & 0x1F
    month = data[4] & 0x0F
    year = ((data[3] & 0xE0) >> 5) | ((data[4] & 0xF0) >> 1)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        return None
    return f"{2000 + year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def time_j(data: bytes) -> str | None:
    """Type J: 24-bit time of day."""
    second, minute, hour = data[0] & 0x3F, data[1] & 0x3F, data[2] & 0x1F
    if hour >= 24 or minute >= 60 or second >= 60:
        return None
    return f"{hour:02d}:{minute:02d}:{second:02d}"


def datetime_value(data: bytes) -> str | None:
    """Choose the date/time type by the data length the DIF gave."""
    n = len(data)
    if n == 4:
        return datetime_f(data)
    if n == 6:
        return datetime_i(data)
    if n == 2:
        return date_g(data)
    if n == 3:
        return time_j(data)
    return None


def date_value(data: bytes) -> str | None:
    n = len(data)
    if n == 2:
        return date_g(data)
    if n in (4, 6):
        full = datetime_value(data)
        return full[:10] if full else None
    return None


def lvar_length(lvar: int) -> int | None:
    """Bytes of data that follow an LVAR byte; None for reserved LVAR values."""
    if lvar <= 0xBF:
        return lvar
    if 0xC0 <= lvar <= 0xC9 or 0xD0 <= lvar <= 0xD9:
        return lvar & 0x0F
    if 0xE0 <= lvar <= 0xEF:
        return lvar - 0xE0
    if 0xF0 <= lvar <= 0xF4:
        return 4 * (lvar - 0xEC)
    if lvar == 0xF5:
        return 48
    if lvar == 0xF6:
        return 64
    return None


def lvar_value(lvar: int, data: bytes) -> int | str | None:
    """Text (sent last character first), BCD or binary number, by the LVAR byte."""
    if lvar <= 0xBF:
        text = data[::-1].decode("latin-1")
        return text if text.isprintable() else data.hex().upper()
    if 0xC0 <= lvar <= 0xC9:
        return bcd_value(data)
    if 0xD0 <= lvar <= 0xD9:
        v = bcd_value(data)
        return -v if v is not None else None
    if lvar <= 0xEF:
        return int.from_bytes(data, "little", signed=True)
    return data.hex().upper()
