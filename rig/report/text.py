"""Text the guest produced, made safe to put in a page: bounded, and with controls shown as text.

Console logs, titles and programs come from a kernel under attack: they may
hold megabytes, terminal escapes, NUL bytes, invalid UTF-8 or Unicode bidi
overrides. HTML escaping is the template engine's job (autoescape); this
module makes sure what reaches it is bounded and that no control character
can act on a terminal or reorder the text in a browser: each shows as a
visible symbol instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# U+2400.. are the Unicode "control pictures": ESC shows as ␛, NUL as ␀.
_C0_PICTURES: Final = {i: chr(0x2400 + i) for i in range(0x20) if chr(i) not in "\n\t"}
_DEL_PICTURE: Final = "\u2421"
# Bidi overrides and isolates reorder what follows them (the "trojan source" trick);
# zero-width characters hide text. Both are shown by code point.
_INVISIBLE: Final = frozenset(
    (0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF)
).union(range(0x202A, 0x202F), range(0x2066, 0x206A))


def _table() -> dict[int, str]:
    table: dict[int, str] = dict(_C0_PICTURES)
    table[0x7F] = _DEL_PICTURE
    for c in range(0x80, 0xA0):  # C1 controls: 0x9b is a one-byte CSI on some terminals
        table[c] = f"<U+{c:04X}>"
    for c in _INVISIBLE:
        table[c] = f"<U+{c:04X}>"
    return table


_TABLE: Final = _table()
_CRLF: Final = re.compile(r"\r+\n")


def visible(text: str) -> str:
    """`text` with every control and invisible character shown as a visible symbol.

    CR LF line ends (and CR CR LF) become LF (a serial console's line ends); any
    other CR shows as ␍, so a line cannot overwrite itself on a terminal.
    """
    return _CRLF.sub("\n", text).translate(_TABLE)


def visible_line(text: str) -> str:
    """One line of guest text (a title): as `visible`, newlines and tabs shown too."""
    return visible(text).replace("\n", "\u2424").replace("\t", " ")


@dataclass(frozen=True)
class Excerpt:
    """At most `cap` bytes of a file, decoded and made visible."""

    text: str
    size: int  # of the whole file
    shown: int  # bytes shown
    tail: bool  # the end of the file was shown, not its start

    @property
    def truncated(self) -> bool:
        return self.shown < self.size

    def note(self) -> str:
        """What was left out, in a sentence ('' when nothing was)."""
        if not self.truncated:
            return ""
        which = "last" if self.tail else "first"
        return f"truncated: the {which} {self.shown:,} of {self.size:,} bytes are shown"


def excerpt(path: Path, cap: int, *, tail: bool = False) -> Excerpt | None:
    """The start (or end, with `tail`) of a file, at most `cap` bytes; None if unreadable."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if tail and size > cap:
                f.seek(size - cap)
            data = f.read(cap)
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    if tail and len(data) < size:
        text = text.partition("\n")[2] or text  # start at a whole line
    return Excerpt(visible(text), size, len(data), tail)
