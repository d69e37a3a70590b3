"""`rig spec probe` against the real driver in a real guest, and `rig spec import` from
what it recorded: the committed spec is what the kernel itself reports today."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.config import Home
from rig.image.build import REPO
from rig.image.module import find_built
from rig.spec import import_guest, import_module
from rig.spec.types import NlAttrSet
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

RECORDED = REPO / "corpora" / "specs" / "recorded"
SPEC = REPO / "corpora" / "specs" / "boundary.yaml"


def _body(spec_text: str) -> list[str]:
    """A spec without the lines that name where its inputs were read from."""
    out, in_sources = [], False
    for line in spec_text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("sources:"):
            in_sources = True
            continue
        if in_sources and line.startswith("- "):
            continue
        in_sources = False
        out.append(line)
    return out


def test_probe_and_import_reproduce_the_committed_spec(
    home: Home, driver_dir: Path, tmp_path: Path
) -> None:
    probe = tmp_path / "probe"
    got = rig(home, "spec", "probe", "--driver", str(driver_dir), "--family", "boundary",
              "-o", str(probe), cwd=REPO)  # fmt: skip
    assert got.returncode == 0, got.stderr

    listing = (probe / "listing.txt").read_text()
    assert listing == (RECORDED / "boundary.listing").read_text()
    policy = (probe / "policy-boundary.bin").read_bytes()
    assert policy == (RECORDED / "boundary.policy-boundary.bin").read_bytes()

    out = tmp_path / "boundary.yaml"
    got = rig(
        home, "spec", "import", "--name", "boundary",
        "--header", "driver/include/uapi/boundary.h", "--device", "/dev/boundary",
        "--ynl", "driver/netlink/boundary.yaml",
        "--policy", str(probe / "policy-boundary.bin"),
        "--listing", str(probe / "listing.txt"), "--module", "boundary",
        "--overlay", "corpora/specs/boundary.overlay.yaml", "-o", str(out), cwd=REPO,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "DWARF agrees on 5 structs" in got.stdout, got.stdout
    assert _body(out.read_text()) == _body(SPEC.read_text())

    # The policy arrays read from the .ko are what the loaded module dumps.
    ko = find_built(home.root / "cache" / "build", "boundary")
    from_ko = import_module.family_policy(ko, "boundary")
    live = import_guest.family_from_replies(policy)
    assert from_ko is not None
    sets = {s.name: s for s in import_module.policies(ko).values()}
    assert _shape(from_ko, sets) == _shape(live.attr_sets[0], {s.name: s for s in live.attr_sets})


def _shape(s: NlAttrSet, sets: dict[str, NlAttrSet]) -> list[tuple[object, ...]]:
    """An attribute set without its names: ids, types, bounds, and nested sets' shapes."""
    return [
        (a.id, a.type, a.min, a.max, a.min_len, a.max_len,
         _shape(sets[a.nested], sets) if a.nested else None)
        for a in s.attrs
    ]  # fmt: skip
