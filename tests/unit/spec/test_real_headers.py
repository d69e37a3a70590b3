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

import subprocess
from pathlib import Path

import pytest

from rig.spec.import_header import check_with_gcc, header_spec, with_gcc_layout
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


def _gcc_codes(header: Path, names: list[str], tmp_path: Path) -> dict[str, int]:
    """Each ioctl macro as gcc expands it in a program that includes the header."""
    lines = ["#include <stdio.h>", "#include <sys/ioctl.h>", f"#include <{header}>"]
    lines.append("int main(void) {")
    lines += [f'printf("%s %lu\\n", "{n}", (unsigned long){n});' for n in names]
    lines += ["return 0;", "}"]
    src, exe = tmp_path / "codes.c", tmp_path / "codes"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run(["gcc", "-w", "-o", str(exe), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def _import(header: Path) -> tuple[Spec, Spec, list[str]]:
    """The spec before and after gcc's layout is adopted (the CLI's two steps), and what moved."""
    raw = header_spec(header, "golden", ["/dev/golden"])
    spec, moved = with_gcc_layout(raw, header)
    return raw, spec, [str(m) for m in moved]


@pytest.mark.parametrize("rel", sorted(FLOORS))
def test_imported_ioctl_codes_are_gccs(rel: str, tmp_path: Path) -> None:
    header = _header(rel)
    raw, spec, moved = _import(header)
    assert len(spec.ioctls) >= FLOORS[rel], [io.name for io in spec.ioctls]
    codes = _gcc_codes(header, [io.name for io in spec.ioctls], tmp_path)
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
