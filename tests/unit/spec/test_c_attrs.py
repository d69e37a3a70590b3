"""GNU attributes carried through pycparser as marker declarations (rig.spec.c_attrs)."""

from __future__ import annotations

import re

from pycparser import c_parser

from rig.spec.c_attrs import carry_attributes, parse_marker


def _markers(text: str) -> list[tuple[str, int, int, str]]:
    return [
        m for m in (parse_marker(n) for n in re.findall(r"__rig_attr_\w+", text)) if m is not None
    ]


def test_record_attributes_before_and_after_the_body() -> None:
    out = carry_attributes(
        "struct a { int x; } __attribute__((packed));\n"
        "struct __attribute__ ((__packed__)) b { char c; };\n"
        "struct c { int y; } __attribute__((aligned(16), packed)) var;\n"
    )
    assert "__attribute" not in out
    assert _markers(out) == [
        ("r", 0, 0, "packed"),
        ("r", 0, 0, "packed"),
        ("r", 0, 0, "aligned"),
        ("r", 0, 0, "packed"),
    ]
    assert out.index("struct a {") < out.index("packed") < out.index("int x")
    c_parser.CParser().parse(out)


def test_member_attributes_name_the_declarators_they_cover() -> None:
    out = carry_attributes(
        "typedef unsigned long long __u64;\n"
        "struct m {\n"
        "  __u64 __attribute__((aligned(8))) a, b;\n"  # in the specifiers: both
        "  int c, d __attribute__((aligned(sizeof(long))));\n"  # after d: d only
        "  char e __attribute__((deprecated));\n"  # no layout meaning: dropped
        "};\n"
    )
    assert _markers(out) == [("m", 0, 2, "aligned"), ("m", 1, 1, "aligned")]
    assert "[(sizeof ( long ))]" in out and "deprecated" not in out
    c_parser.CParser().parse(out)


def test_file_scope_typedef_and_code_and_line_numbers() -> None:
    src = (
        "typedef int t8 __attribute__((aligned(8)));\n"
        "extern int f(int) __attribute__ ((__nothrow__,\n __leaf__));\n"
        "static inline int g(void) { struct { int y __attribute__((aligned(4))); } q; return 0; }\n"
        "int after;\n"
    )
    out = carry_attributes(src)
    assert _markers(out) == [("t", 0, 1, "aligned")], "attributes in code change no header type"
    assert out.count("\n") == src.count("\n"), "lines keep their numbers"
    assert out.splitlines()[4] == src.splitlines()[4] == "int after;"
    c_parser.CParser().parse(out)


def test_strings_and_directives_are_left_alone() -> None:
    src = '# 1 "x.h"\nconst char *s = "__attribute__((packed))";\n#pragma pack(1)\n'
    assert carry_attributes(src) == src
