"""Netlink policies and link kinds read from an object file's data, DWARF and relocations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.spec.import_module import (
    compat_ioctls,
    family_policy,
    genl_families,
    link_kinds,
    policies,
)
from rig.spec.types import NlAttr, NlCommand

SOURCE = Path(__file__).parent / "data" / "policies.c"


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A relocatable object with DWARF, as a .ko is (gcc -g -c)."""
    if not shutil.which("gcc"):
        pytest.fail("gcc is needed (the rig builds modules with it)")
    out = tmp_path_factory.mktemp("obj") / "policies.o"
    subprocess.run(["gcc", "-g", "-O2", "-c", "-o", str(out), str(SOURCE)], check=True)
    return out


def test_a_link_kinds_data_and_slave_policies_with_their_nests(obj: Path) -> None:
    (link,) = link_kinds(obj)
    assert (link.kind, link.data, link.slave_data) == ("toylink", "data_policy", "slave_policy")
    fam = link.family
    data = fam.attr_set("data_policy")
    assert data is not None
    assert data.attrs == (
        NlAttr("attr1", 1, "u32", 0, 7),
        NlAttr("attr2", 2, "string", max_len=15),
        NlAttr("attr3", 3, "nest", nested="inner_policy"),
        NlAttr("attr4", 4, "u32", 1000, 100000),  # the range behind a pointer
        NlAttr("attr5", 5, "binary", min_len=6, max_len=6),
        NlAttr("attr7", 7, "flag"),
    ), "NLA_REJECT (6) is nothing a request may carry"
    inner = fam.attr_set("inner_policy")
    assert inner is not None
    assert inner.attrs == (NlAttr("attr1", 1, "u16", 0, 0xFFFF), NlAttr("attr2", 2, "s32", -5, 5))
    slave = fam.attr_set("slave_policy")
    assert slave is not None and slave.attrs == (NlAttr("attr1", 1, "u8", 2, 0xFF),)


def test_a_generic_netlink_familys_policy_and_every_array(obj: Path) -> None:
    top = family_policy(obj, "toyfam")
    assert top is not None and [a.type for a in top.attrs] == ["u64", "string", "indexed-array"]
    assert top.attrs[2].nested == "inner_policy"
    assert family_policy(obj, "nosuch") is None
    assert set(policies(obj)) == {
        "inner_policy",
        "data_policy",
        "slave_policy",
        "family_policy_arr",
    }


def test_not_a_module_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ko"
    junk.write_bytes(b"not an elf")
    with pytest.raises(ConfigError, match="not a readable ELF"):
        policies(junk)


def test_a_generic_netlink_family_with_its_commands_and_groups(obj: Path) -> None:
    (fam,) = genl_families(obj)
    assert (fam.name, fam.version, fam.mcgrps) == ("toyfam", 2, ("events",))
    assert fam.commands == (
        NlCommand("cmd1", 1, "family_policy_arr", do=True, dump=False),
        NlCommand("cmd5", 5, "family_policy_arr", do=False, dump=True),
    )
    assert [s.name for s in fam.attr_sets] == ["family_policy_arr", "inner_policy"]


def test_a_module_without_netlink_has_no_families_links_or_policies(tmp_path: Path) -> None:
    """uinput has no genl_family, not even the struct in its DWARF: nothing, not an error."""
    src = tmp_path / "plain.c"
    src.write_text("struct plain { int a; };\nstruct plain plain_thing = { 1 };\n")
    out = tmp_path / "plain.o"
    subprocess.run(["gcc", "-g", "-c", "-o", str(out), str(src)], check=True)
    assert genl_families(out) == [] and link_kinds(out) == [] and policies(out) == {}
    assert family_policy(out, "any") is None


def test_compat_ioctl_handlers_are_named_whether_the_drivers_or_the_kernels(obj: Path) -> None:
    """A static handler (a section-relative relocation) and an undefined kernel symbol."""
    assert compat_ioctls(obj) == ["toy_compat_ioctl", "compat_ptr_ioctl"]
    from rig.campaign.options import abi_policy

    abis, why = abi_policy("toy", compat_ioctls(obj))
    assert abis == (64, 32) and "toy_compat_ioctl" in why
    assert abi_policy("toy", ["compat_ptr_ioctl"])[0] == (64,)
    assert abi_policy("toy", [])[0] == (64,)
    assert abi_policy("toy", None)[0] == (64,)
