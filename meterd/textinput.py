"""Reading the text files users hand over (registers, keys, readings, captures, routes), safely.

Every line is bounded (a clear error past the bound, and memory stays flat whatever the file holds),
the encoding is UTF-8 (a BOM is dropped) unless told otherwise (`cp1250` for Polish spreadsheets),
and every problem names the file and the line: `FILE:LINE: problem`.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from meterd.errors import MeterdError

MAX_LINE = 1 << 20  # bytes in one line of any file meterd reads
MAX_FIELD = 64 << 10  # characters in one CSV field
ENCODINGS = ("utf-8", "cp1250", "latin-1")


class InputFileError(MeterdError):
    code = "bad_input_file"


def check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputFileError(f"unknown encoding {name!r} (e.g. {', '.join(ENCODINGS)})") from None


def split_lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[bytes | None]:
    """Lines of a stream of byte chunks, each with its line end (the last maybe without); None for a
    line of `limit` bytes or more, whose bytes are skipped without being held."""
    pending = b""
    skipping = False
    for data in chunks:
        parts = (pending + data).split(b"\n") if pending else data.split(b"\n")
        pending = parts.pop()
        for part in parts:
            if skipping:
                skipping = False
                yield None
            elif len(part) >= limit:
                yield None
            else:
                yield part + b"\n"
        if len(pending) >= limit:
            pending = b""
            skipping = True
    if skipping:
        yield None
    elif pending:
        yield pending


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE, block: int = 1 << 20) -> Iterator[bytes | None]:
    """split_lines over a binary stream read in blocks (read1 where there is one: what is there, so that
    a pipe is answered as it flows)."""
    read = getattr(stream, "read1", stream.read)
    return split_lines(iter(lambda: read(block), b""), limit)


@dataclass
class TextFile:
    """A file read line by line as text; `line` is the number of the line last read."""

    path: Path
    encoding: str = "utf-8"
    limit: int = MAX_LINE
    line: int = 0

    def error(self, problem: str, line: int | None = None) -> InputFileError:
        return InputFileError(f"{self.path}:{self.line if line is None else line}: {problem}")

    def lines(self) -> Iterator[str]:
        encoding = check_encoding(self.encoding)
        try:
            stream = self.path.open("rb")
        except IsADirectoryError:
            raise InputFileError(f"{self.path} is a folder, not a file") from None
        except OSError as e:
            raise InputFileError(f"cannot read {self.path}: {e.strerror}") from None
        with stream:
            for raw in bounded_lines(stream, self.limit):
                self.line += 1
                if raw is None:
                    raise self.error(f"line longer than {self.limit} bytes")
                if b"\0" in raw:
                    raise self.error("binary data (a NUL byte): not a text file")
                if self.line == 1 and raw.startswith(codecs.BOM_UTF8) and encoding == "utf-8":
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    yield raw.decode(encoding)
                except UnicodeDecodeError as e:
                    raise self.error(
                        f"not {encoding} text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                        "a file from a Polish spreadsheet may need --encoding cp1250"
                    ) from None


def sniff_delimiter(header: str) -> str:
    """`,` normally; `;` for the CSV that Polish Excel writes (a header with `;` and no `,`)."""
    return ";" if header.count(";") > header.count(",") else ","


@dataclass
class CsvFile(TextFile):
    """A CSV file with a header: rows as dicts of stripped strings, lower-case column names (`columns`
    once the header was read); `,` or `;` separated."""

    columns: list[str] = field(default_factory=list)

    def rows(self, required: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
        lines = self.lines()
        header = next(lines, None)
        if header is None:
            raise InputFileError(f"{self.path}: empty file (a header line is needed)")
        delimiter = sniff_delimiter(header)
        columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
        self.columns = columns
        width = len(columns)
        missing = required - set(columns)
        if missing:
            raise InputFileError(f"{self.path}:1: header lacks {', '.join(sorted(missing))}")
        old_limit = csv.field_size_limit(MAX_FIELD)
        try:
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            while True:
                start = self.line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as e:
                    raise self.error(
                        f"malformed CSV ({e})".replace("field larger than field limit", "field too long")
                    ) from None
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # a blank line
                if len(values) > width and any(v.strip() for v in values[width:]):
                    raise self.error(f"{len(values)} fields, the header has {width}", start)
                row = dict(zip(columns, map(str.strip, values), strict=False))
                row.pop("", None)
                yield start, row
        finally:
            csv.field_size_limit(old_limit)
