"""A report file as it arrives, chunk by chunk: gunzipped, without a byte-order mark, its rows counted.

Pure (standard library only), so it works on any size in constant memory and is
tested without a network. Report files behind ``reportAccessSecureLink`` are
gzip-compressed CSV or TSV (Microsoft's Java and C# samples decompress them) and
may start with a UTF-8 byte-order mark. Whether every file is compressed is not
documented, so a file that does not start with the gzip magic is passed through
as it is; one whose gzip stream stops short is an error, never a quietly
truncated file.
"""

from __future__ import annotations

import re
import zlib

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# A line feed (after any carriage returns) that ends a line with something on it.
_RECORD_END = re.compile(rb"[^\r\n]\r*\n")
_LINE_END_FIRST = re.compile(rb"\r*\n")


class TruncatedFileError(ValueError):
    """The gzip stream ended before its end marker: the download was cut short."""


class ReportFileDecoder:
    """Feed it the bytes of the file as they arrive; it returns the bytes to write.

    Handles gzip files of several members (``cat a.gz b.gz``), as ``gzip`` does.
    ``compressed`` says whether the file was gzip, once the first two bytes were seen.
    """

    def __init__(self) -> None:
        self.compressed: bool | None = None
        self._head = b""  # bytes held until the format is known
        self._inflater: zlib._Decompress | None = None
        self._bom_checked = False
        self._pending = b""  # decoded bytes held until the BOM question is settled

    def feed(self, chunk: bytes) -> bytes:
        if self.compressed is None:
            self._head += chunk
            if len(self._head) < len(GZIP_MAGIC):
                return b""
            chunk, self._head = self._head, b""
            self.compressed = chunk.startswith(GZIP_MAGIC)
        return self._without_bom(self._inflate(chunk) if self.compressed else chunk)

    def finish(self) -> bytes:
        """The last bytes; raises ``TruncatedFileError`` if a gzip stream was left unfinished."""
        out = b""
        if self.compressed is None:  # fewer than two bytes in all: not gzip
            self.compressed = False
            out, self._head = self._head, b""
        elif self.compressed and (self._inflater is None or not self._inflater.eof):
            raise TruncatedFileError("the report file ended before its gzip stream did (a cut download?)")
        out = self._without_bom(out)
        if not self._bom_checked:  # fewer than three bytes in all: not a whole BOM, so kept
            out, self._pending = self._pending, b""
            self._bom_checked = True
        return out

    def _inflate(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._inflater is None:
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out.append(self._inflater.decompress(chunk))
            except zlib.error as err:
                raise ValueError(f"the report file is not valid gzip: {err}") from None
            if self._inflater.eof:  # one member done: another may follow
                chunk = self._inflater.unused_data
                if chunk:
                    self._inflater = None
            else:
                chunk = b""
        return b"".join(out)

    def _without_bom(self, data: bytes) -> bytes:
        if self._bom_checked:
            return data
        self._pending += data
        if len(self._pending) < len(UTF8_BOM) and UTF8_BOM.startswith(self._pending):
            return b""  # could still be the start of a BOM
        self._bom_checked = True
        data, self._pending = self._pending, b""
        return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


class RowCounter:
    """Counts the records of a CSV or TSV file fed in chunks; ``rows`` leaves out the header.

    A record ends at a line feed outside a quoted field (CSV quotes with ``"``, a
    quote inside one doubled, so each ``"`` simply flips the state); TSV has no
    quoting. Carriage returns belong to the line ending; a blank line is no record;
    a last record without a line feed counts; an empty file has no rows.
    """

    def __init__(self, file_format: str | None = "csv") -> None:
        self.quoted = (file_format or "csv").strip().lower() != "tsv"
        self.records = 0
        self._in_quotes = False
        self._open_record = False  # bytes seen since the last record ended

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if not self.quoted or (b'"' not in data and not self._in_quotes):
            self._count_lines(data)
            return
        for index, part in enumerate(data.split(b'"')):
            if index:
                self._in_quotes = not self._in_quotes
                self._open_record = True  # the quote itself belongs to a record
            if not self._in_quotes:
                self._count_lines(part)
            elif part:
                self._open_record = True

    def _count_lines(self, data: bytes) -> None:
        """Count the records that end in ``data`` (text outside quotes); blank lines are no records."""
        if not data:
            return
        ends = len(_RECORD_END.findall(data))
        if self._open_record and _LINE_END_FIRST.match(data):
            ends += 1  # closes a record begun in an earlier piece
        self.records += ends
        last = data.rfind(b"\n")
        rest = data[last + 1 :] if last >= 0 else data
        self._open_record = bool(rest.strip(b"\r")) or (last < 0 and self._open_record)

    def finish(self) -> None:
        if self._open_record:
            self.records += 1
            self._open_record = False

    @property
    def rows(self) -> int:
        """Data rows: every record after the header."""
        return max(self.records - 1, 0)
