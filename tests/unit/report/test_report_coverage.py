"""Per-function coverage: the 6.1 loader's text layout, trace-pc sites, PCs named by function."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from report_support import IMAGE, MODULE, Synthetic

from rig.errors import ConfigError
from rig.report.coverage import analyse, cpio_member, layout, module_coverage

ALLOC_EXEC, ALLOC = 0x6, 0x2


def test_layout_is_the_loaders_core_text_order_and_alignment() -> None:
    sections = [
        ("", 0, 0, 0),
        (".text", ALLOC_EXEC, 100, 16),
        (".data", 0x3, 64, 8),
        (".init.text", ALLOC_EXEC, 50, 16),  # init: laid out elsewhere, freed after init
        (".exit.text", ALLOC_EXEC, 7, 1),  # core with CONFIG_MODULE_UNLOAD, as Debian's
        (".text.unlikely", ALLOC_EXEC, 20, 16),
        (".rodata", ALLOC, 8, 8),
    ]
    assert layout(sections) == {1: 0, 4: 100, 5: 112}


def test_functions_sites_and_reached_pcs_of_a_compiled_module(synthetic: Synthetic) -> None:
    ko = synthetic.home.root / "tmp-tree" / "lib" / "modules" / f"{MODULE}.ko"
    cov = analyse(io.BytesIO(ko.read_bytes()), synthetic.reached, MODULE, "test")
    by_name = {f.name: f for f in cov.functions}
    assert set(by_name) == {"alpha", "beta", "gamma_cold"}  # fake_init is init code: not listed
    alpha, beta, cold = by_name["alpha"], by_name["beta"], by_name["gamma_cold"]
    assert (alpha.sites, alpha.reached) == (
        len(synthetic.sites["alpha"]),
        len(synthetic.sites["alpha"]),
    )
    assert (beta.sites, beta.reached) == (len(synthetic.sites["beta"]), 1)
    assert cold.section == ".text.unlikely" and cold.sites >= 1 and cold.reached == 0
    assert alpha.percent == 100.0
    assert cov.pcs == len(synthetic.reached) and cov.unmapped == 0
    assert cov.sites == sum(f.sites for f in cov.functions)


def test_a_pc_at_no_site_counts_for_its_function_and_one_outside_any_is_unmapped(
    synthetic: Synthetic,
) -> None:
    ko = synthetic.home.root / "tmp-tree" / "lib" / "modules" / f"{MODULE}.ko"
    inside_beta = synthetic.sites["beta"][0] + 2  # a callee's tail-called hook returns here
    cov = analyse(io.BytesIO(ko.read_bytes()), {inside_beta, 0xFFFFF}, MODULE, "test")
    beta = next(f for f in cov.functions if f.name == "beta")
    assert (beta.reached, beta.other_pcs, cov.unmapped) == (0, 1, 1)


def test_the_module_comes_from_the_images_initramfs(synthetic: Synthetic) -> None:
    initramfs = synthetic.home.images / IMAGE / "initramfs.cpio"
    data = cpio_member(initramfs, f"lib/modules/{MODULE}.ko")
    assert data is not None and data[:4] == b"\x7fELF"
    assert cpio_member(initramfs, "lib/modules/other.ko") is None
    cov = module_coverage(synthetic.home.root, synthetic.reached, IMAGE, MODULE)
    assert not isinstance(cov, str) and cov.source == f"image {IMAGE}"


def test_no_module_anywhere_is_a_sentence(tmp_path: Path) -> None:
    got = module_coverage(tmp_path, set(), "gone0000", "nothere")
    assert isinstance(got, str) and "no module nothere.ko" in got


def test_a_truncated_or_foreign_archive_is_no_module(tmp_path: Path) -> None:
    bad = tmp_path / "x.cpio"
    bad.write_bytes(b"070701" + b"zz" * 60)
    assert cpio_member(bad, "anything") is None
    bad.write_bytes(b"\x1f\x8b compressed")
    assert cpio_member(bad, "anything") is None


def test_a_damaged_module_is_a_sentence_not_an_exception(synthetic: Synthetic) -> None:
    ko = (synthetic.home.root / "tmp-tree" / "lib" / "modules" / f"{MODULE}.ko").read_bytes()
    far = ko[:0x28] + (1 << 40).to_bytes(8, "little") + ko[0x30:]  # section headers elsewhere
    for damaged in (ko[:200], far, b"\x7fELF" + b"\0" * 60):
        with pytest.raises(ConfigError, match="not a readable module"):
            analyse(io.BytesIO(damaged), set(), MODULE, "damaged")
