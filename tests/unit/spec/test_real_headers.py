"""Golden tests: ioctls imported from the system's own UAPI headers (Debian's linux-libc-dev).

Each test imports a header with the functions `rig spec import` uses, then
compiles a C program of its own (not rig's probe) that includes the header
after <sys/ioctl.h>, as a user program would, and prints every imported
ioctl macro as gcc expands it with the kernel's _IOC macros. Every code must
be gcc's, rig's own layout must agree with gcc's before gcc's is adopted,
and at least a floor of ioctls must be found (what linux-libc-dev 6.1 gives,
with a little room for older headers).
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from rig.spec.import_header import (
    abi_flags,
    check_with_gcc,
    header_spec,
    with_abi32,
    with_gcc_layout,
)
from rig.spec.load import dumps, loads
from rig.spec.types import Spec

INCLUDE = Path("/usr/include")

# header: fewest ioctls an import must find (linux-libc-dev 6.1 gives the count in the comment)
FLOORS = {
    "linux/videodev2.h": 80,  # 82
    "sound/asound.h": 80,  # 84
    "linux/input.h": 15,  # 16 (EVIOCGNAME(len) and friends take a length: not object-like)
    "linux/uinput.h": 19,  # 20
    "linux/if_tun.h": 27,  # 28
    "linux/fs.h": 45,  # 48 (BLKTRACESETUP, FS_IOC_FIEMAP need structs fs.h does not define)
}


def _header(rel: str) -> Path:
    path = INCLUDE / rel
    if not path.is_file():
        pytest.skip(f"{path} does not exist (install linux-libc-dev)")
    return path


def _gcc_codes(header: Path, names: list[str], tmp_path: Path, abi: int = 64) -> dict[str, int]:
    """Each ioctl macro as gcc expands it in a program of `abi` that includes the header."""
    lines = ["#include <stdio.h>", "#include <sys/ioctl.h>", f"#include <{header}>"]
    lines.append("int main(void) {")
    lines += [f'printf("%s %lu\\n", "{n}", (unsigned long){n});' for n in names]
    lines += ["return 0;", "}"]
    src, exe = tmp_path / "codes.c", tmp_path / "codes"
    src.write_text("\n".join(lines) + "\n")
    cmd = ["gcc", "-w", *abi_flags(abi), "-o", str(exe), str(src)]
    subprocess.run(cmd, check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def _import(header: Path, abi: int = 64) -> tuple[Spec, Spec, list[str]]:
    """The spec before and after gcc's layout is adopted (the CLI's two steps), and what moved."""
    raw = header_spec(header, "golden", ["/dev/golden"], abi=abi)
    spec, moved = with_gcc_layout(raw, header, abi=abi)
    return raw, spec, [str(m) for m in moved]


@pytest.mark.parametrize("abi", [64, 32])
@pytest.mark.parametrize("rel", sorted(FLOORS))
def test_imported_ioctl_codes_are_gccs(rel: str, abi: int, tmp_path: Path) -> None:
    """64: x86_64 callers; 32: i386 callers (4-byte pointers and long, u64 4-aligned)."""
    header = _header(rel)
    raw, spec, moved = _import(header, abi)
    assert len(spec.ioctls) >= FLOORS[rel], [io.name for io in spec.ioctls]
    codes = _gcc_codes(header, [io.name for io in spec.ioctls], tmp_path, abi)
    assert {io.name: io.code for io in spec.ioctls} == codes
    assert {io.name: io.code for io in raw.ioctls} == codes, "rig's own sizes are gcc's"
    assert moved == [], "rig lays out every struct as gcc does, attributes and bitfields included"
    for io in spec.ioctls:
        assert (io.dir.ioc, io.size, io.type, io.nr) == (
            io.code >> 30,
            (io.code >> 16) & 0x3FFF,
            (io.code >> 8) & 0xFF,
            io.code & 0xFF,
        )


@pytest.mark.parametrize("rel", sorted(FLOORS))
def test_imported_spec_is_valid_and_gcc_checks_it(rel: str) -> None:
    header = _header(rel)
    _, spec, _ = _import(header)
    assert loads(dumps(spec), rel) == spec, "what the CLI writes reads back"
    assert check_with_gcc(spec, header) == []


@pytest.mark.parametrize("rel", sorted(FLOORS))
def test_both_layouts_in_one_spec(rel: str, tmp_path: Path) -> None:
    """The joined spec gives 32-bit programs gcc -m32's codes and reads back from its file."""
    header = _header(rel)
    _, spec64, _ = _import(header)
    _, spec32, _ = _import(header, 32)
    spec = with_abi32(spec64, spec32)
    assert loads(dumps(spec), rel) == spec
    assert [dataclasses.replace(s, abi32=None) for s in spec.structs] == list(spec64.structs)
    assert [dataclasses.replace(i, abi32=None) for i in spec.ioctls] == list(spec64.ioctls)
    names = [io.name for io in spec.ioctls]
    assert {io.name: io.code for io in spec.for_abi(32).ioctls} == _gcc_codes(
        header, names, tmp_path, 32
    )
    for s in spec.for_abi(32).structs:
        assert s.name in {x.name for x in spec32.structs}
        assert s == next(x for x in spec32.structs if x.name == s.name)


def test_32_bit_layouts_differ_where_c_says() -> None:
    """videodev2.h: v4l2_buffer holds a pointer and a long (timeval): its codes differ."""
    header = _header("linux/videodev2.h")
    spec = with_abi32(_import(header)[1], _import(header, 32)[1])
    qbuf = spec.ioctl("VIDIOC_QBUF")
    assert qbuf is not None and qbuf.abi32 is not None
    assert (qbuf.size, qbuf.abi32.size) == (88, 68)
    fmt = spec.ioctl("VIDIOC_G_FMT")
    assert fmt is not None and fmt.abi32 is not None, "v4l2_format's union holds pointers"
    cap = spec.ioctl("VIDIOC_QUERYCAP")
    assert cap is not None and cap.abi32 is None, "fixed-width fields only: one layout"


def test_anonymous_unions_are_reached_through_their_struct() -> None:
    """videodev2.h: the import used to fail on `offsetof(struct v4l2_dbg_match, anon1)`."""
    header = _header("linux/videodev2.h")
    _, spec, _ = _import(header)
    match = spec.struct("v4l2_dbg_match")
    assert match is not None
    anon = next(f for f in match.fields if f.name.startswith("anon"))
    union = spec.struct(f"v4l2_dbg_match.{anon.name}")
    assert union is not None and union.union
    assert {f.name for f in union.fields} == {"addr", "name"}
    control = spec.struct("v4l2_ext_control")
    assert control is not None and control.size == 20, "packed: the union follows at 12"
    assert [f.offset for f in control.fields] == [0, 4, 8, 12]


def test_bitfields_and_included_structs() -> None:
    header = _header("sound/asound.h")
    _, spec, _ = _import(header)
    interval = spec.struct("snd_interval")
    assert interval is not None and interval.size == 12
    bits = interval.fields[-1]
    assert bits.name == "openmin:1,openmax:1,integer:1,empty:1" and bits.offset == 8
    # struct timespec comes from glibc's <time.h> by way of the include chain.
    assert spec.struct("timespec") is not None
    tun = _header("linux/if_tun.h")
    _, tspec, _ = _import(tun)
    attach = next(io for io in tspec.ioctls if io.name == "TUNATTACHFILTER")
    assert attach.arg is not None and "sock_fprog" in str(attach.arg)
    assert tspec.struct("sock_fprog") is not None, "linux/filter.h's struct, passed by if_tun.h"


@pytest.mark.parametrize("rel", sorted(FLOORS))
def test_rig_spec_import_on_real_headers(rel: str, tmp_path: Path) -> None:
    """The command the issue reproduced with: every header imports and gcc agrees."""
    from click.testing import CliRunner

    from rig.cli.spec import cli
    from rig.spec.load import load

    header = _header(rel)
    out = tmp_path / "spec.yaml"
    args = ["import", "--home", str(tmp_path / "home"), "--name", "t", "--header", str(header)]
    res = CliRunner().invoke(cli, [*args, "--device", "/dev/x", "-o", str(out)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "(gcc agrees)" in res.output
    assert len(load(out).ioctls) >= FLOORS[rel]
