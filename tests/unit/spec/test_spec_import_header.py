"""Header import: layouts as gcc computes them, ioctl codes, field hints, and the DWARF check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rig.spec.import_header import (
    HeaderError,
    check_with_dwarf,
    check_with_gcc,
    gcc_layout,
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
	__u32 zero;		/* must be 0 */
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
    assert isinstance(types["reserved"], Int) and types["reserved"].const is None, (
        "a name alone never fixes a value"
    )
    assert isinstance(types["zero"], Int) and types["zero"].const == 0, "the header's word does"
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
    p.write_text("struct x { int a } ;\n")  # gcc -E passes it; no C parser does
    with pytest.raises(HeaderError, match=r"bad\.h: pycparser cannot parse"):
        parse_header(p)


def test_odd_constructs_are_skipped_with_a_warning_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = tmp_path / "odd.h"
    p.write_text(
        "#include <linux/ioctl.h>\n"
        "extern int odd_var;\n"
        "#define ODD_VAR_SIZE sizeof(odd_var)\n"  # fs.h used to crash on sizeof(expression)
        "#define ODD_SIZE_T sizeof(size_t)\n"  # a glibc type name
        "#define ODD_EMPTY\n"
        "#define ODD_PACKED __attribute__((packed))\n"  # expands to no expression
        "struct odd_broken { struct odd_nowhere n; };\n"
        "struct odd_ok { int a; };\n"
        "#define ODD_IOC_GONE _IOW('O', 1, struct odd_elsewhere)\n"
        "#define ODD_IOC_OK _IOW('O', 2, struct odd_ok)\n"
        "#if 0\n#define ODD_IOC_OFF _IOW('O', 3, struct odd_ok)\n#endif\n"
    )
    with caplog.at_level("WARNING"):
        info = parse_header(p)
    assert "ODD_VAR_SIZE" not in info.values and info.values["ODD_SIZE_T"] == 8
    assert [name for name, _ in info.ioctls] == ["ODD_IOC_OK"]
    assert "odd_broken" not in info.records and "odd_ok" in info.records
    text = caplog.text
    assert "odd.h:7: struct odd_broken skipped: member n: struct odd_nowhere" in text
    assert "ioctl ODD_IOC_GONE skipped" in text and "struct odd_elsewhere" in text
    assert "ODD_IOC_OFF" not in text, "a macro of an inactive #if branch is no ioctl"


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


def test_packed_and_aligned_are_honoured(tmp_path: Path) -> None:
    header = tmp_path / "packed.h"
    header.write_text(
        "#include <linux/ioctl.h>\n#include <linux/types.h>\n"
        "struct pk_fmt { __u8 kind; __u32 pad; __u64 value; __u32 reserved[2]; }"
        " __attribute__((packed));\n"
        "struct __attribute__((__packed__)) pk_pre { __u8 a; __u16 b; };\n"
        "typedef __u32 pk_u32a8 __attribute__((aligned(8)));\n"
        "struct pk_mix {\n"
        "\t__u8 a;\n"
        "\t__aligned_u64 b;\n"  # __u64 __attribute__((aligned(8)))
        "\t__u8 c, d __attribute__((aligned(4))), e;\n"  # d only
        "\tpk_u32a8 f;\n"
        "\tstruct { __u8 x; __u32 y; } __attribute__((packed)) g;\n"
        "\t__u8 h __attribute__((aligned(sizeof(long))));\n"
        "} __attribute__((aligned(32)));\n"
        "#define PK_IOC_SET _IOW('P', 1, struct pk_fmt)\n"
        "#define PK_IOC_MIX _IOW('P', 2, struct pk_mix)\n"
    )
    spec = header_spec(header, "pk", ["/dev/pk"])
    assert check_with_gcc(spec, header) == [], "rig reads the attributes gcc reads"
    assert with_gcc_layout(spec, header)[1] == []
    fmt = spec.struct("pk_fmt")
    assert fmt is not None and fmt.size == 21
    assert [f.offset for f in fmt.fields] == [0, 1, 5, 13]
    io = spec.ioctls[0]
    assert io.size == 21 and io.code == (1 << 30) | (21 << 16) | (ord("P") << 8) | 1
    types = {f.name: f.type for f in fmt.fields}
    assert isinstance(types["pad"], Int) and types["pad"].const is None, "a pad index is a value"
    pre = spec.struct("pk_pre")
    assert pre is not None and pre.size == 3
    mix = spec.struct("pk_mix")
    assert mix is not None and (mix.size, mix.align) == (64, 32)
    offsets = {f.name: f.offset for f in mix.fields}
    assert offsets == {"a": 0, "b": 8, "c": 16, "d": 20, "e": 21, "f": 24, "g": 28, "h": 40}
    assert spec.struct("pk_mix.g") is not None and spec.struct("pk_mix.g").size == 5  # type: ignore[union-attr]


def test_pragma_pack_is_honoured(tmp_path: Path) -> None:
    header = tmp_path / "pragma.h"
    header.write_text(
        "#include <linux/ioctl.h>\n#include <linux/types.h>\n"
        "#pragma pack(push, 1)\n"
        "struct pp_one { __u8 kind; __u32 value; };\n"
        "#pragma pack(2)\n"
        "struct pp_two { __u8 kind; __u64 value; };\n"
        "#pragma pack(pop)\n"
        "struct pp_none { __u8 kind; __u32 value; };\n"
        "#define PP_IOC_ONE _IOW('P', 1, struct pp_one)\n"
        "#define PP_IOC_TWO _IOW('P', 2, struct pp_two)\n"
        "#define PP_IOC_NONE _IOW('P', 3, struct pp_none)\n"
    )
    spec = header_spec(header, "pp", ["/dev/pp"])
    assert check_with_gcc(spec, header) == []
    sizes = {s.name: (s.size, s.align) for s in spec.structs}
    assert sizes == {"pp_one": (5, 1), "pp_two": (10, 2), "pp_none": (8, 4)}


def test_gcc_lays_out_what_rig_cannot_see(tmp_path: Path) -> None:
    header = tmp_path / "penum.h"
    header.write_text(
        "#include <linux/ioctl.h>\n#include <linux/types.h>\n"
        "enum __attribute__((packed)) pe_kind { PE_A, PE_B };\n"  # rig leaves enums int-sized
        "struct pe_fmt { enum pe_kind kind; __u8 value; };\n"
        "#define PE_IOC_SET _IOW('P', 1, struct pe_fmt)\n"
    )
    raw = header_spec(header, "pe", ["/dev/pe"])
    assert check_with_gcc(raw, header), "rig alone does not pack enums"
    spec, moved = with_gcc_layout(raw, header)
    assert moved and check_with_gcc(spec, header) == []
    fmt = spec.struct("pe_fmt")
    assert fmt is not None and fmt.size == 2 and [f.offset for f in fmt.fields] == [0, 1]
    assert spec.ioctls[0].size == 2


BITS = r"""
#include <linux/ioctl.h>
#include <linux/types.h>
struct bt_flags {
	__u32 min;
	unsigned int openmin:1, openmax:1, integer:1, empty:1;
	__u8 after;
	unsigned int :0;
	__u8 aligned_by_zero_width;
	unsigned long wide:60;
	unsigned char one:3;
	unsigned int mode:4;
};
struct bt_packed { __u8 a; unsigned int b:12; } __attribute__((packed));
union bt_union { __u8 c; unsigned int bits:20; };
#define BT_IOC_FLAGS _IOWR('B', 1, struct bt_flags)
#define BT_IOC_PACKED _IOW('B', 2, struct bt_packed)
#define BT_IOC_UNION _IOW('B', 3, union bt_union)
"""


def test_bitfields_are_laid_out_as_gcc_does(tmp_path: Path) -> None:
    header = tmp_path / "bits.h"
    header.write_text(BITS)
    spec = header_spec(header, "bits", ["/dev/bits"])
    assert check_with_gcc(spec, header) == []
    flags = spec.struct("bt_flags")
    assert flags is not None
    fields = {f.name: f for f in flags.fields}
    unit = fields["openmin:1,openmax:1,integer:1,empty:1"]
    assert unit.offset == 4 and unit.type == Int(1, flags=(1, 2, 4, 8))
    assert fields["after"].offset == 5 and fields["aligned_by_zero_width"].offset == 8
    # 60 bits do not fit the long that began at 8; `one` shares wide's last byte.
    assert fields["wide:60,one:3"].offset == 16 and fields["wide:60,one:3"].type == Int(8)
    assert fields["mode:4"].offset == 24, "4 bits would cross an int boundary at bit 192"
    assert (flags.size, flags.align) == (32, 8)
    packed = spec.struct("bt_packed")
    assert packed is not None and packed.size == 3
    union = spec.struct("bt_union")
    assert union is not None and (union.size, union.align) == (4, 4)
    # The probe checks where the bits begin by setting them (offsetof cannot take a bitfield).
    _, theirs = with_gcc_layout(spec, header)
    assert theirs == []


ANON = r"""
#include <linux/ioctl.h>
#include <linux/types.h>
typedef struct { __u8 b[16]; } an_guid_t;
struct an_req {
	__u32 kind;
	union {
		__u32 value;
		struct { __u16 lo; __u16 hi; };
		__u64 wide;
	};
	struct { __u32 x; __u32 y; } points[2];
	union { __s32 level; __u8 raw[6]; } u;
	an_guid_t id;
};
struct an_ctl {
	__u32 id;
	__u32 size;
	union {
		__s32 value;
		__s64 value64;
		char *string;
	};
} __attribute__((packed));
#define AN_IOC_REQ _IOWR('A', 1, struct an_req)
#define AN_IOC_CTL _IOWR('A', 2, struct an_ctl)
#define AN_IOC_GUID _IOR('A', 3, an_guid_t)
"""


def test_anonymous_records_are_named_and_checked_through_their_struct(tmp_path: Path) -> None:
    header = tmp_path / "anon.h"
    header.write_text(ANON)
    spec = header_spec(header, "anon", ["/dev/anon"])
    names = {s.name for s in spec.structs}
    assert {
        "an_req",
        "an_req.anon1",
        "an_req.anon1.anon1",
        "an_req.points",
        "an_req.u",
        "an_guid_t",
        "an_ctl",
        "an_ctl.anon2",
    } <= names
    assert check_with_gcc(spec, header) == []
    # Every field is checked, anonymous ones through their first member.
    theirs = gcc_layout(spec, header)
    for s in spec.structs:
        for f in s.fields:
            assert f"offset {s.name}.{f.name}" in theirs
    assert theirs["offset an_req.anon1.anon1.hi"] == 2
    assert theirs["size an_req.points"] == 8 and theirs["size an_guid_t"] == 16
    ctl = spec.struct("an_ctl")
    assert ctl is not None and ctl.size == 16 and ctl.fields[-1].offset == 8
    guid = next(io for io in spec.ioctls if io.name == "AN_IOC_GUID")
    assert guid.arg == Ptr(StructRef("an_guid_t"), Dir.OUT)


def test_a_struct_the_probe_cannot_compile_is_a_warning(
    tmp_path: Path, tricky: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from rig.spec.types import Field, Struct

    spec = header_spec(tricky, "tricky", ["/dev/tricky"])
    ghost = Struct("tricky_ghost", 8, 4, (Field("a", 0, Int(4)),))
    spec = replace(spec, structs=(*spec.structs, ghost))
    with caplog.at_level("WARNING"):
        adopted, moved = with_gcc_layout(spec, tricky)
    assert moved == [] and adopted.struct("tricky_ghost") == ghost
    assert "cannot compile struct tricky_ghost" in caplog.text
    assert [m.what for m in check_with_gcc(spec, tricky)] == [
        "size tricky_ghost",
        "align tricky_ghost",
        "offset tricky_ghost.a",
    ]


def test_ioctls_follow_the_include_chain(tmp_path: Path) -> None:
    (tmp_path / "filt.h").write_text(
        "#include <linux/types.h>\n"
        "struct ch_insn { __u16 code; __u8 jt, jf; __u32 k; };\n"
        "struct ch_prog { unsigned short len; struct ch_insn *filter; };\n"
    )
    outer = tmp_path / "chain.h"
    outer.write_text(
        '#include "filt.h"\n'  # no <linux/ioctl.h>: if_tun.h relies on the user's
        "#define CH_ATTACH _IOW('C', 1, struct ch_prog)\n"
        "#define CH_SIZE _IOR('C', 2, size_t)\n"
        "#define CH_LABEL _IOR('C', 3, char[32])\n"
    )
    spec = header_spec(outer, "chain", ["/dev/chain"])
    args = {io.name: io.arg for io in spec.ioctls}
    assert args["CH_ATTACH"] == Ptr(StructRef("ch_prog"), Dir.IN)
    assert args["CH_SIZE"] == Ptr(Int(8), Dir.OUT)
    assert args["CH_LABEL"] == Ptr(String(32, 31), Dir.OUT)
    assert spec.struct("ch_prog") is not None and spec.struct("ch_insn") is None
    assert check_with_gcc(spec, outer) == []


def test_extra_include_directories_come_after_the_systems(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    (inc / "mylib").mkdir(parents=True)
    (inc / "mylib" / "defs.h").write_text("#define MY_MAGIC 'M'\nstruct my_arg { int v; };\n")
    # A stray stddef.h there must not replace the system's for the prelude or the probe.
    (inc / "stddef.h").write_text("#error not the system's stddef.h\n")
    header = tmp_path / "my.h"
    header.write_text("#include <mylib/defs.h>\n#define MY_IOC _IOW(MY_MAGIC, 1, struct my_arg)\n")
    spec = header_spec(header, "my", ["/dev/my"], [inc])
    assert [io.name for io in spec.ioctls] == ["MY_IOC"]
    assert check_with_gcc(spec, header, [inc]) == []
