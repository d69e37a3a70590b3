"""Rust v0 frame names in kernel reports read as rustc-demangle prints them."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.crash.parse import parse
from rig.crash.rustsym import demangle

# Names from a Rust binder panic and from rustc's own symbols, with their demangled
# forms (rustc-demangle's short form: no crate hashes, no const type suffixes).
CASES = [
    (
        "_RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Process10update_ref",
        "<rust_binder::process::Process>::update_ref",
    ),
    ("_RNvCscSpY9Juk0HT_7___rustc17rust_begin_unwind", "__rustc::rust_begin_unwind"),
    (
        "_RNvNtNtCs9jEwPDbx20M_4core9panicking11panic_const24panic_const_sub_overflow",
        "core::panicking::panic_const::panic_const_sub_overflow",
    ),
    (
        "_RNvXs1b_NtCs9jEwPDbx20M_4core3fmtRNtNtNtB8_5panic10panic_info9PanicInfo"
        "NtB6_7Display3fmtCs43vyB533jt3_6kernel",
        "<&core::panic::panic_info::PanicInfo as core::fmt::Display>::fmt",
    ),
    (
        "_RNCNCNCNvNtCsjrHSEGnQ3l9_3std2rt19lang_start_internal00s_0B9_",
        "std::rt::lang_start_internal::{closure#0}::{closure#0}::{closure#1}",
    ),
    (
        "_RINvNtCsgEmfK2I1SDS_4core6escape14escape_unicodeKja_ECsgY6Mt91CT9J_14rustc_demangle",
        "core::escape::escape_unicode::<10>",
    ),
    (
        "_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeINtNtCslNYArtu3iFV_5alloc5boxed3Box"
        "DG0_INtNtNtB4_3ops8function2FnTRL1_INtNtCsjrHSEGnQ3l9_3std5panic13PanicHookInfo"
        "L0_EEEp6OutputuNtNtB4_6marker4SyncNtB2N_4SendEL_EEB1T_",
        "core::ptr::drop_in_place::<alloc::boxed::Box<dyn for<'a, 'b> core::ops::function::"
        "Fn<(&'a std::panic::PanicHookInfo<'b>,), Output = ()> + core::marker::Sync + "
        "core::marker::Send>>",
    ),
    ("_RNvC6_123foo3bar", "123foo::bar"),
]


@pytest.mark.parametrize(("mangled", "plain"), CASES)
def test_v0_names_read_as_rustc_demangle_prints_them(mangled: str, plain: str) -> None:
    assert demangle(mangled) == plain


@pytest.mark.parametrize(
    "name",
    [
        "boundary_xfer_op",  # C
        "_RECLAIMABLE",  # a C name that starts like a Rust one
        "_RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Proc",  # cut
        "_RNvB_3foo",  # a back reference to itself
        "_RNvB9_3foo",  # a back reference forward
        "_R" + "N" * 5000,  # too long for a kernel symbol
    ],
)
def test_what_is_not_a_valid_v0_name_is_kept_as_printed(name: str) -> None:
    assert demangle(name) == name


def _b62(value: int) -> str:
    if value == 0:
        return "_"
    digits, v = "", value - 1
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while True:
        digits = alphabet[v % 62] + digits
        v //= 62
        if not v:
            return digits + "_"


def _doubling(levels: int) -> str:
    """A short name whose generic arguments refer back twice a level: 2**levels output.

    Level k (0 outermost) is `I C1y <level k+1> B<level k+1's offset> E`; offsets count
    from after "_R", where "Nv" comes first, so level k starts at 2 + 4k."""
    body = "C1x"
    for k in range(levels - 1, -1, -1):
        body = "IC1y" + body + "B" + _b62(2 + 4 * (k + 1)) + "E"
    return "_RNv" + body + "1f"


def test_a_name_built_to_explode_stays_cheap() -> None:
    name = _doubling(40)  # about 400 characters, 2**40 back-reference expansions
    t0 = time.process_time()
    out = demangle(name)
    assert time.process_time() - t0 < 0.5
    assert out == name
    assert demangle(_doubling(2)) == "y::<y<x, x>, y<x, x>>::f"


@given(st.text(alphabet="_RNvCMXYIBEKLGsu0123456789abcxyzT", max_size=80))
def test_any_name_gives_text_and_never_raises(tail: str) -> None:
    assert isinstance(demangle("_R" + tail), str)


def test_a_rust_panic_is_titled_by_its_demangled_frame() -> None:
    log = "\n".join(
        [
            "[   23.717039][  T298] rust_kernel: panicked at drivers/android/binder/node.rs:877:13:",
            "[   23.717039][  T298] attempt to subtract with overflow",
            "[   23.771620][  T298] ------------[ cut here ]------------",
            "[   23.771620][  T298] kernel BUG at rust/helpers/bug.c:7!",
            "[   23.829979][  T298] RIP: 0010:rust_helper_BUG+0x8/0x10",
            "[   24.000000][  T298] Call Trace:",
            "[   24.000000][  T298]  <TASK>",
            "[   24.063751][  T298]  _RNvCscSpY9Juk0HT_7___rustc17rust_begin_unwind+0x15b/0x160",
            "[   24.150000][  T298]  _RNvNtNtCs9jEwPDbx20M_4core9panicking11panic_const"
            "24panic_const_sub_overflow+0x10/0x20",
            "[   24.163987][  T298]  _RNvMs3_NtCshgDM7dBCdno_11rust_binder7processNtB5_7Process"
            "10update_ref+0x17e5/0x1860",
            "[   24.204041][  T298]  _RNvMs2_NtCshgDM7dBCdno_11rust_binder6threadNtB5_6Thread"
            "10write_read+0x27cf/0x96a0",
            "[   24.300000][  T298]  </TASK>",
            "",
        ]
    )
    report = parse(log)[0]
    assert report.title == (
        "attempt to subtract with overflow in <rust_binder::process::Process>::update_ref"
    )
    assert not any("_RNv" in alt for alt in report.alt_titles)
