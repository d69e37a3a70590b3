"""Bad programs: the model's rules, text errors that name file, line and call, wire refusals."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.errors import ConfigError
from rig.prog import text, wire
from rig.prog.program import (
    BAD_FD,
    MAX_ARENA,
    MAX_CALLS,
    Buffer,
    Close,
    FileRead,
    Ioctl,
    NlSend,
    NlSocket,
    Open,
    Program,
    ProgramError,
    Read,
    Reloc,
    Special,
    Write,
)

GOOD = """\
# a comment
rig-program 1
driver 00112233445566778899aabbccddeeff
spec -

r0 = open("/dev/boundary", 0x2)
ioctl(r0, 0xc0104201, buf(size=16, data=x"01", @8=buf(size=8, mapped=4)))
sock = nl_socket()
nl_send(sock, "boundary", x"14000000")
close(r0)
"""


def test_good_file_parses() -> None:
    f = text.loads(GOOD)
    assert f.header == text.Header("00112233445566778899aabbccddeeff", None)
    assert f.program.calls[2] == NlSocket()
    assert f.program.calls[3] == NlSend(2, "boundary", b"\x14\0\0\0")
    assert f.program.calls[1] == Ioctl(
        0, 0xC0104201, Buffer(b"\x01", 16, None, (Reloc(8, Buffer(b"", 8, 4)),))
    )


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (("0x2)", "0x2"), "p.prog:6: call 0 (open): expected ',', found 'end of line'"),
        (("close(r0)", "close(r7)"), "p.prog:10: call 4 (close): fd: no earlier call is labelled"),
        (("close(r0)", "clos(r0)"), "p.prog:10: call 4 (clos): unknown call"),
        (("close(r0)", "close(sock, r0)"), "p.prog:10: call 4 (close): close takes 1 arguments"),
        (("close(r0)", "read(sock, 1)"), "p.prog:10: call 4 (read): fd reference r2 (NlSocket) is"),
        (('"boundary"', '"much-too-long-family"'), "p.prog:9: call 3 (nl_send): family"),
        (("mapped=4", "mapped=9"), "p.prog:7: call 1 (ioctl): mapped 9"),
        (("@8=", "@12="), "p.prog:7: call 1 (ioctl): pointer at 12 does not fit"),
        (('x"01"', 'x"0"'), "p.prog:7: call 1 (ioctl): odd number of hex digits"),
        (("rig-program 1", "rig-program 2"), "p.prog:2: program format version 2"),
        (("spec -", "spec nothex"), "p.prog:4: 'nothex' is not a hex hash"),
        (("sock = nl_socket()", "r0 = nl_socket()"), "p.prog:8: call 2 (nl_socket): label 'r0'"),
        (("close(r0)", "c = close(r0)"), "p.prog:10: call 4 (close): close yields no fd"),
        (("spec -\n", "spec -\nabi 16\n"), "p.prog:5: abi '16' is not one of 64, 32"),
        (
            ("@8=buf(size=8, mapped=4)", "@13=ptr32(null)"),
            "p.prog:7: call 1 (ioctl): pointer at 13",
        ),
        (("0xc0104201, buf", "0xc0104201, ptr32(buf"), "p.prog:7: call 1 (ioctl): ptr32(...) is"),
    ],
)
def test_errors_name_file_line_and_call(edit: tuple[str, str], expect: str) -> None:
    bad = GOOD.replace(*edit)
    assert bad != GOOD
    with pytest.raises(ConfigError) as e:
        text.loads(bad, "p.prog")
    assert str(e.value).startswith(expect), str(e.value)


def test_missing_header() -> None:
    with pytest.raises(text.ProgramSyntaxError, match=r"p\.prog: header incomplete"):
        text.loads("rig-program 1\n", "p.prog")


def test_load_reports_unreadable_file(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(ConfigError, match="cannot read program"):
        text.load(Path(str(tmp_path)) / "missing.prog")


def test_check_target_names_both_hashes() -> None:
    f = text.loads(GOOD)
    f.check_target("00112233445566778899aabbccddeeff", "ff" * 32)  # spec '-' matches any
    with pytest.raises(ConfigError) as e:
        f.check_target("aa" * 16, None)
    assert "00112233445566778899aabbccddeeff (program)" in str(e.value)
    assert "aa" * 16 + " (target)" in str(e.value)


@pytest.mark.parametrize(
    "program",
    [
        Program((Close(0),)),
        Program((Open("/x"), Open("/y"), Close(2))),
        Program((NlSocket(), Read(0, 1))),
        Program((Open("relative"),)),
        Program((Open("/x\n"),)),
        Program((Open("/x", flags=1 << 32),)),
        Program((Open("/x"), Ioctl(0, 1, 1 << 64))),
        Program((Open("/x"), Ioctl(0, 1, Buffer(b"abc", 2)))),
        Program((Open("/x"), Ioctl(0, 1, Buffer(b"", 4, None, (Reloc(0, Special.NULL),))))),
        Program((FileRead("/x", MAX_ARENA // 2 + 1), FileRead("/y", MAX_ARENA // 2))),
        Program((Write(BAD_FD, b""), Write(-2, b""))),
        Program(tuple(Close(BAD_FD) for _ in range(MAX_CALLS + 1))),
        Program((Close(BAD_FD, thread=256),)),
    ],
)
def test_model_rules(program: Program) -> None:
    with pytest.raises(ProgramError):
        program.validate()
    with pytest.raises(ProgramError):
        wire.encode(program)


def test_nesting_limit() -> None:
    buf = Buffer(b"", 8)
    for _ in range(8):
        buf = Buffer(b"", 8, None, (Reloc(0, buf),))
    Program((Open("/x"), Ioctl(0, 1, buf))).validate()
    deeper = Buffer(b"", 8, None, (Reloc(0, buf),))
    with pytest.raises(ProgramError, match="nest deeper"):
        Program((Open("/x"), Ioctl(0, 1, deeper))).validate()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_wire_decode_garbage_raises_only_wire_error(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode(wire.encode(Program()) + data if data[:1] == b"\0" else data)


def test_wire_refusals_of_abi_width_and_version() -> None:
    good = wire.encode(
        Program((Open("/x"), Ioctl(0, 1, Buffer(b"", 8, None, (Reloc(4, Special.NULL, 4),)))), 32)
    )
    wire.decode(good)
    at_width = good.index(bytes([4, 0, 0, 0, 4, 1]))  # offset 4, width 4, tag null
    for bad, why in [
        (good[:4] + b"\x02" + good[5:], "version 2"),
        (good[:8] + b"\x21" + good[9:], "abi 33"),
        (good[: at_width + 4] + b"\x05" + good[at_width + 5 :], "pointer width 5"),
        (good[: at_width + 4] + b"\x08" + good[at_width + 5 :], "pointer at 4 does not fit"),
    ]:
        with pytest.raises(wire.WireError, match=why):
            wire.decode(bad)
