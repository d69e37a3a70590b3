"""Header import: layouts as gcc computes them, ioctl codes, field hints, and the DWARF check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rig.spec.import_header import (
    HeaderError,
    check_with_dwarf,
    check_with_gcc,
    header_spec,
    parse_header,
    with_gcc_layout,
)
from rig.spec.types import Array, Bytes, Dir, Int, Len, Ptr, String, StructRef

ROOT = Path(__file__).resolve().parents[3]
BOUNDARY_H = ROOT / "driver/include/uapi/boundary.h"

TRICKY = r"""
#ifndef TRICKY_H
#define TRICKY_H
#include <linux/ioctl.h>
#include <linux/types.h>

#define TRICKY_NAME_LEN 12
#define TRICKY_MAX (1 << 4)

enum tricky_op { TRICKY_OP_A = 3, TRICKY_OP_B, TRICKY_OP_C = 10 };

/* tricky_inner.flags */
#define TRICKY_F_ONE (1U << 0)
#define TRICKY_F_TWO (1U << 3)

struct tricky_inner {
	__u8 tag;
	__u64 wide;		/* forces 8-byte alignment after one byte */
	__u16 flags;		/* TRICKY_F_* */
};

union tricky_union {
	__u32 word;
	__u8 bytes[6];
};

/* Elements are struct tricky_inner. */
struct tricky_req {
	__u8 kind;		/* enum tricky_op */
	struct tricky_inner inner;
	char name[TRICKY_NAME_LEN];
	__u64 data_ptr;		/* user pointer */
	__u32 data_len;
	__u16 count;		/* 1 .. TRICKY_MAX */
	union tricky_union u;
	__u32 done;		/* out: bytes consumed */
	__u32 reserved;
	__s64 tail[2];
};

#define TRICKY_IOC_MAGIC 'T'
#define TRICKY_IOC_REQ _IOWR(TRICKY_IOC_MAGIC, 0x10, struct tricky_req)
#define TRICKY_IOC_PING _IO(TRICKY_IOC_MAGIC, 0x11)
#define TRICKY_IOC_VAL _IOW(TRICKY_IOC_MAGIC, 0x12, __u32)
#endif
"""


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    p = tmp_path / "tricky.h"
    p.write_text(TRICKY)
    return p


def test_tricky_layout_matches_gcc(tricky: Path) -> None:
    spec = header_spec(tricky, "tricky", ["/dev/tricky"])
    assert check_with_gcc(spec, tricky) == []
    inner = spec.struct("tricky_inner")
    assert inner is not None and (inner.size, inner.align) == (24, 8)
    req = spec.struct("tricky_req")
    assert req is not None
    offsets = {f.name: f.offset for f in req.fields}
    assert offsets["inner"] == 8 and offsets["name"] == 32 and offsets["data_ptr"] == 48
    union = spec.struct("tricky_union")
    assert union is not None and union.union and union.size == 8


def test_tricky_ioctls_and_hints(tricky: Path) -> None:
    spec = header_spec(tricky, "tricky", ["/dev/tricky"])
    req_size = spec.struct("tricky_req").size  # type: ignore[union-attr]
    codes = {io.name: io for io in spec.ioctls}
    assert codes["TRICKY_IOC_REQ"].code == (3 << 30) | (req_size << 16) | (ord("T") << 8) | 0x10
    assert codes["TRICKY_IOC_REQ"].arg == Ptr(StructRef("tricky_req"), Dir.INOUT)
    assert codes["TRICKY_IOC_PING"].arg is None and codes["TRICKY_IOC_PING"].dir == Dir.NONE
    assert codes["TRICKY_IOC_VAL"].arg == Ptr(Int(4), Dir.IN)
    assert spec.devices[0].ioctls == tuple(codes)
    req = spec.struct("tricky_req")
    assert req is not None
    types = {f.name: f.type for f in req.fields}
    assert types["kind"] == Int(1, values=(3, 4, 10))
    assert types["name"] == String(12, 11)
    assert isinstance(types["data_ptr"], Ptr)
    assert types["data_ptr"].target == Array(StructRef("tricky_inner"), None, 0, 16)
    assert types["data_len"] == Len("data_ptr", 4, "bytes")
    assert types["count"] == Len("data_ptr", 2, "elements")
    assert isinstance(types["reserved"], Int) and types["reserved"].const == 0
    assert next(f for f in req.fields if f.name == "done").out
    inner = spec.struct("tricky_inner")
    assert inner is not None
    flags = next(f.type for f in inner.fields if f.name == "flags")
    assert isinstance(flags, Int) and flags.flags == (1, 8)
    assert "tricky" not in spec.words and "op" in spec.words


def test_boundary_header_matches_gcc() -> None:
    spec = header_spec(BOUNDARY_H, "boundary", ["/dev/boundary"])
    assert check_with_gcc(spec, BOUNDARY_H) == []
    assert len(spec.ioctls) >= 7
    assert all(io.code >> 8 & 0xFF == io.type for io in spec.ioctls)


def test_gcc_check_finds_a_wrong_offset(tricky: Path) -> None:
    from dataclasses import replace

    spec = header_spec(tricky, "tricky")
    req = spec.struct("tricky_req")
    assert req is not None
    bad = replace(req, fields=(replace(req.fields[1], offset=4), *req.fields[2:]))
    spec = replace(spec, structs=(bad,))
    mismatches = check_with_gcc(spec, tricky)
    assert [m.what for m in mismatches] == ["offset tricky_req.inner"]
    assert "rig computed 4, compiler says 8" in str(mismatches[0])


def test_dwarf_check_on_a_compiled_object(tricky: Path, tmp_path: Path) -> None:
    src = tmp_path / "use.c"
    src.write_text(f'#include "{tricky}"\nstruct tricky_req r; union tricky_union u;\n')
    obj = tmp_path / "use.o"
    subprocess.run(["gcc", "-g", "-c", "-o", str(obj), str(src)], check=True)
    spec = header_spec(tricky, "tricky")
    mismatches, missing = check_with_dwarf(spec, obj)
    assert mismatches == []
    assert missing == []  # tricky_inner is described as a member's type


def test_unparsable_header(tmp_path: Path) -> None:
    p = tmp_path / "bad.h"
    p.write_text("struct x { int a:3; };\n")
    with pytest.raises(HeaderError, match="bitfields"):
        parse_header(p)


def test_macro_values(tricky: Path) -> None:
    info = parse_header(tricky)
    assert info.values["TRICKY_MAX"] == 16
    assert info.values["TRICKY_OP_B"] == 4
    assert info.enums["tricky_op"] == {"TRICKY_OP_A": 3, "TRICKY_OP_B": 4, "TRICKY_OP_C": 10}


SHAPES = r"""
#include <linux/ioctl.h>
#include <linux/types.h>

#define SH_CFG_F_FAST (1U << 0)
#define SH_CFG_F_SAFE (1U << 2)
#define SH_REQ_FLAG_ASYNC (1U << 1)
#define SH_REQ_FLAG_RETRY (1U << 4)

struct sh_cfg {
	__u32 flags;
	__u32 mode;
};

struct sh_req {
	__u64 in_ptr;
	__u64 out_ptr;
	__u32 out_len;
	__u32 in_len;
	__u32 flags;
	__u32 pad;
};

struct sh_xfer {
	__u64 src_buf;
	__u64 resp_buf;
	__u32 len;
	__u32 pad;
};

struct sh_info {
	__u64 data;
	__u32 data_size;
	__u32 pad;
	__u64 stamp;
};

#define SH_IOC_CFG _IOW('S', 1, struct sh_cfg)
#define SH_IOC_REQ _IOWR('S', 2, struct sh_req)
#define SH_IOC_XFER _IOW('S', 3, struct sh_xfer)
#define SH_IOC_INFO _IOR('S', 4, struct sh_info)
"""


def test_shapes_of_real_drivers_are_typed_right(tmp_path: Path) -> None:
    header = tmp_path / "shapes.h"
    header.write_text(SHAPES)
    spec = header_spec(header, "shapes", ["/dev/sh"])
    assert check_with_gcc(spec, header) == []

    def types(name: str) -> dict[str, object]:
        s = spec.struct(name)
        assert s is not None
        return {f.name: f.type for f in s.fields}

    req = types("sh_req")
    # Lengths pair with their pointers by name, not with the first pointer.
    assert req["out_len"] == Len("out_ptr", 4, "bytes")
    assert req["in_len"] == Len("in_ptr", 4, "bytes")
    # A buffer named as output is one the driver fills.
    assert req["out_ptr"] == Ptr(Bytes(), Dir.OUT) and req["in_ptr"] == Ptr(Bytes(), Dir.IN)
    # Each flags field gets the bits named after its own struct.
    assert isinstance(req["flags"], Int) and req["flags"].flags == (2, 16)
    cfg = types("sh_cfg")
    assert isinstance(cfg["flags"], Int) and cfg["flags"].flags == (1, 4)
    assert isinstance(cfg["mode"], Int) and cfg["mode"].flags == ()
    # A bare length follows the nearest pointer before it.
    xfer = types("sh_xfer")
    assert xfer["len"] == Len("resp_buf", 4, "bytes")
    assert xfer["resp_buf"] == Ptr(Bytes(), Dir.OUT) and xfer["src_buf"] == Ptr(Bytes(), Dir.IN)
    # A struct only _IOR passes is written by the driver, buffers included.
    info = types("sh_info")
    assert info["data"] == Ptr(Bytes(), Dir.OUT) and info["data_size"] == Len("data", 4, "bytes")
    assert isinstance(info["stamp"], Int), "a 64-bit field no length names is a value"


def test_records_of_included_headers_come_when_contained(tmp_path: Path) -> None:
    (tmp_path / "inner.h").write_text(
        "#include <linux/types.h>\n"
        "struct in_effect { __u16 type; union { __s32 level; __u16 dir[3]; } u; };\n"
        "struct in_unused { __u32 x; };\n"
    )
    outer = tmp_path / "outer.h"
    outer.write_text(
        '#include <linux/ioctl.h>\n#include "inner.h"\n'
        "struct out_upload { __u32 id; signed short int gain; struct in_effect effect; };\n"
        "#define OUT_IOC_UP _IOWR('O', 1, struct out_upload)\n"
    )
    spec = header_spec(outer, "outer", ["/dev/outer"])
    names = {s.name for s in spec.structs}
    assert {"out_upload", "in_effect"} <= names and "in_unused" not in names
    assert check_with_gcc(spec, outer) == [], "anonymous unions are checked through their container"
    up = spec.struct("out_upload")
    assert up is not None
    assert next(f.type for f in up.fields if f.name == "gain") == Int(2, signed=True)


def test_gcc_lays_out_what_pycparser_cannot_see_packed_structs(tmp_path: Path) -> None:
    header = tmp_path / "packed.h"
    header.write_text(
        "#include <linux/ioctl.h>\n#include <linux/types.h>\n"
        "struct pk_fmt { __u8 kind; __u32 pad; __u64 value; __u32 reserved[2]; }"
        " __attribute__((packed));\n"
        "#define PK_IOC_SET _IOW('P', 1, struct pk_fmt)\n"
    )
    raw = header_spec(header, "pk", ["/dev/pk"])
    assert check_with_gcc(raw, header), "rig alone cannot see the attribute"
    spec, moved = with_gcc_layout(raw, header)
    assert moved and check_with_gcc(spec, header) == []
    fmt = spec.struct("pk_fmt")
    assert fmt is not None and fmt.size == 21
    assert [f.offset for f in fmt.fields] == [0, 1, 5, 13]
    io = spec.ioctls[0]
    assert io.size == 21 and io.code == (1 << 30) | (21 << 16) | (ord("P") << 8) | 1
    types = {f.name: f.type for f in fmt.fields}
    assert isinstance(types["pad"], Int) and types["pad"].const is None, "a pad index is a value"
