"""Kernel preparation: PVH detection, payload extraction errors, module load order."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from rig.errors import BuildError, ConfigError
from rig.image import kernel
from rig.image.module import coverage_sites, find_built, first_error, parse_params, rodata_words


def elf_with_note(name: bytes, ntype: int) -> bytes:
    desc = b"\0" * 8
    note = (
        struct.pack("<III", len(name) + 1, len(desc), ntype)
        + name
        + b"\0" * (4 - len(name) % 4)
        + desc
    )
    phoff = 64
    ph = struct.pack("<IIQQQQQQ", 4, 0, 64 + 56, 0, 0, len(note), len(note), 4)
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    struct.pack_into("<Q", header, 0x20, phoff)
    struct.pack_into("<HH", header, 0x36, 56, 1)
    return bytes(header) + ph + note


def test_pvh_note_is_found() -> None:
    assert kernel.has_pvh_note(elf_with_note(b"Xen", kernel.XEN_ELFNOTE_PHYS32_ENTRY))
    assert not kernel.has_pvh_note(elf_with_note(b"Xen", 5))
    assert not kernel.has_pvh_note(elf_with_note(b"GNU", kernel.XEN_ELFNOTE_PHYS32_ENTRY))


def test_not_a_bzimage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "vmlinuz"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(BuildError, match="not a bzImage"):
        kernel.extract_vmlinux(bad, tmp_path / "out")


def test_malformed_kernel_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="malformed"):
        kernel.check_version("../../etc")
    with pytest.raises(ConfigError, match=r"unknown kernel version 9\.9\.9-none"):
        kernel.check_version("9.9.9-none")


def test_module_closure_puts_dependencies_first(tmp_path: Path) -> None:
    mods = tmp_path / "lib/modules/6.1-test"
    mods.mkdir(parents=True)
    (mods / "modules.dep").write_text(
        "kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n"
    )
    k = kernel.Kernel("6.1-test", "pkg", "1", tmp_path)
    order = [p.name for p in kernel.module_closure(k, ["a", "c"])]
    assert order == ["c.ko", "b.ko", "a.ko"]
    with pytest.raises(BuildError, match="no module zz"):
        kernel.module_closure(k, ["zz"])


def test_module_params_are_validated_words() -> None:
    assert parse_params(" bugs=a,b  verbose ") == ("bugs=a,b", "verbose")
    with pytest.raises(ConfigError, match="malformed module parameter"):
        parse_params("bugs=$(reboot)")


def test_first_compiler_error_is_picked() -> None:
    out = "make: entering\n/x/a.c:3:1: error: expected ';'\n/x/a.c:9:1: error: later\n"
    assert first_error(out) == "/x/a.c:3:1: error: expected ';'"


def test_a_module_is_found_by_name_among_the_homes_builds(tmp_path: Path) -> None:
    older, newer = tmp_path / "aaaa-6.1-plain", tmp_path / "bbbb-6.1-cov"
    for d in (older, newer):
        d.mkdir()
        (d / "uinput.ko").write_bytes(b"\x7fELF")
    os.utime(older / "uinput.ko", (1, 1))
    (tmp_path / "rigcov-cccc-6.1").mkdir()
    (tmp_path / "rigcov-cccc-6.1" / "rigcov.ko").write_bytes(b"\x7fELF")
    assert find_built(tmp_path, "uinput") == newer / "uinput.ko"
    assert find_built(tmp_path, "rigcov") == tmp_path / "rigcov-cccc-6.1" / "rigcov.ko"
    with pytest.raises(ConfigError, match="no built module boundary"):
        find_built(tmp_path, "boundary")
    with pytest.raises(ConfigError, match=r"neither a \.ko file nor a module name"):
        find_built(tmp_path, "../x")


def test_word_like_literals_are_read_from_a_modules_rodata(tmp_path: Path) -> None:
    src = tmp_path / "drv.c"
    src.write_text(
        "#include <string.h>\n"
        "int parse(const char *s) {\n"
        '  if (!strcmp(s, "reset")) return 1;\n'
        '  if (!strcmp(s, "enable_all")) return 2;\n'
        '  if (!strcmp(s, "%d bytes\\n")) return 3;\n'
        '  return !strcmp(s, "two words");\n'
        "}\n"
    )
    obj = tmp_path / "drv.o"
    subprocess.run(["gcc", "-O2", "-c", "-o", str(obj), str(src)], check=True)
    words = rodata_words(obj)
    assert "reset" in words and "enable_all" in words
    assert not any(" " in w or "%" in w for w in words)
    (tmp_path / "junk.ko").write_bytes(b"\x7fELF\x02junk")
    assert rodata_words(tmp_path / "junk.ko") == []


def test_coverage_sites_are_the_trace_pc_calls_outside_init_code(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text(
        "int f(int x) { if (x > 3) return x * 2; return x + 1; }\n"
        '__attribute__((section(".init.text"))) int g(int x) { return x ? 1 : 2; }\n'
    )
    obj = tmp_path / "m.o"
    subprocess.run(
        ["gcc", "-O1", "-fsanitize-coverage=trace-pc", "-c", "-o", str(obj), str(src)], check=True
    )
    assert coverage_sites(obj) >= 2  # f's blocks; g's in .init.text are not counted
    plain = tmp_path / "p.o"
    subprocess.run(["gcc", "-O1", "-c", "-o", str(plain), str(src)], check=True)
    assert coverage_sites(plain) == 0


def test_bench_targets_are_name_driver_and_spec() -> None:
    from rig.bench.drivers import parse_target

    name, driver, spec = parse_target("uinput=/x/uinput:/y/uinput.yaml")
    assert (name, driver, spec) == ("uinput", Path("/x/uinput"), Path("/y/uinput.yaml"))
    with pytest.raises(ConfigError, match="NAME=DRIVER_DIR:SPEC"):
        parse_target("uinput")
