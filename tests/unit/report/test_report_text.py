"""Guest text for a page: bounded reads, and no control character left to act."""

from __future__ import annotations

from pathlib import Path

from rig.report.text import excerpt, visible, visible_line


def test_controls_show_as_visible_symbols() -> None:
    text = "a\x1b[31mred\x1b[0m\x00\x07 \x7f \u009b2J \u202eevil\u2066 zero\u200bwidth\r\nnext\rover\ttab"
    out = visible(text)
    assert out == (
        "a␛[31mred␛[0m␀␇ ␡ <U+009B>2J <U+202E>evil<U+2066> zero<U+200B>width\nnext␍over\ttab"
    )
    assert all(ch in "\n\t" or ch >= " " for ch in out)


def test_serial_line_ends_become_newlines() -> None:
    assert visible("one\r\r\ntwo\r\n") == "one\ntwo\n"


def test_a_line_stays_one_line() -> None:
    assert visible_line("t\x1b[2Jitle\nsecond\tx") == "t␛[2Jitle␤second x"


def test_excerpt_bounds_and_says_so(tmp_path: Path) -> None:
    f = tmp_path / "log"
    f.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    size = f.stat().st_size
    head = excerpt(f, 100)
    assert head is not None and head.truncated and head.shown == 100 and head.size == size
    assert head.text.startswith("line 0\n")
    assert head.note() == f"truncated: the first 100 of {size:,} bytes are shown"
    tail = excerpt(f, 100, tail=True)
    assert tail is not None and tail.text.endswith("line 999\n")
    assert tail.text.startswith("line ")  # a whole line first, not the middle of one
    whole = excerpt(f, size)
    assert whole is not None and not whole.truncated and whole.note() == ""
    assert excerpt(tmp_path / "missing", 10) is None


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"ok \xff\xfe \xc2\x9b end")
    ex = excerpt(f, 100)
    assert ex is not None and ex.text == "ok \ufffd\ufffd <U+009B> end"
