"""The pytest plugin without a VM: its options and marker, and that it boots nothing unasked."""

from __future__ import annotations

import struct

import pytest

from rig.image.build import REPO
from rig.prog.program import Ioctl, Open, Program
from rig.spec import netlink as nl
from rig.spec.load import load
from rig.testing import REPORT_LINES, KernelCrash, crash_message, genl_request, netlink_errno

pytest_plugins = ["pytester"]

SPEC = load(REPO / "corpora" / "specs" / "boundary.yaml")
TITLE = "BUG: unable to handle kernel NULL pointer dereference in boundary_xfer_unconfigured"
PROG = Program((Open("/dev/boundary"), Ioctl(0, 0xC018B703, 0)))

SHOW_OPTIONS = """
def test_options(rig_options):
    o = rig_options
    print("OPTS", o.driver, o.module, repr(o.params), o.spec, o.home, o.reset, o.scope, o.snapshots)
"""


def opts_line(result: pytest.RunResult) -> list[str]:
    line = next(ln for ln in result.outlines if "OPTS " in ln)
    return line.split("OPTS ", 1)[1].split(" ")[:8]


def test_defaults_outside_the_rigs_checkout(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIG_HOME", "/srv/righome")
    pytester.makepyfile(SHOW_OPTIONS)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    driver, module, params, spec, home, reset, scope, snapshots = opts_line(result)
    assert (driver, module, params, spec) == ("None", "None", "''", "None")
    assert (home, reset, scope, snapshots) == ("/srv/righome", "crash", "module", "True")


def test_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nrig_driver = drv\nrig_params = bugs=all\nrig_reset = test\n")
    pytester.makepyfile(SHOW_OPTIONS)
    result = pytester.runpytest(
        "-s", "--rig-params", "bugs=ioctl_unconfigured", "--rig-spec", "s.yaml",
        "--rig-home", "/h", "--rig-scope", "session", "--rig-no-snapshot",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    driver, _, params, spec, home, reset, scope, snapshots = opts_line(result)
    assert driver == str(pytester.path / "drv"), "ini paths are relative to the rootdir"
    assert params == "'bugs=ioctl_unconfigured'" and spec == str(pytester.path / "s.yaml")
    assert (home, reset, scope, snapshots) == ("/h", "test", "session", "False")


def test_a_bad_reset_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_OPTIONS)
    result = pytester.runpytest("--rig-reset", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_marker_wins_and_nothing_boots_until_a_program_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.rig(params="bugs=all")

        def test_module_marker(rig_vm):
            assert rig_vm.target.params == "bugs=all"
            assert rig_vm.target.driver.name == "drv"
            assert rig_vm.boots == 0 and rig_vm.fresh

        @pytest.mark.rig(params="bugs=ioctl_unconfigured", spec="s.yaml")
        def test_own_marker(rig_vm, rig_host):
            assert rig_vm.target.params == "bugs=ioctl_unconfigured"
            assert rig_vm.target.spec.name == "s.yaml"
            assert not rig_host.opened, "no libvirt connection without a program"

        def test_without_rig_vm():
            pass
        """
    )
    result = pytester.runpytest("--rig-driver", "drv", "--rig-home", str(pytester.path / "h"))
    result.assert_outcomes(passed=3)


def test_rig_vm_without_a_driver_says_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(rig_vm):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no driver to boot; give --rig-driver DIR*"])


def test_a_marker_with_unknown_keywords_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.rig(bugs='all')\ndef test_it(rig_vm):\n    pass\n"
    )
    result = pytester.runpytest("--rig-driver", "drv")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pytest.mark.rig takes keywords params, driver*bugs*"])


def test_the_marker_is_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.rig(params='x')\ndef test_it():\n    pass\n")
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


# ---------------------------------------------------------------- KernelCrash


def test_kernel_crash_names_the_title_first_then_the_program_then_the_report() -> None:
    report = "\n".join(f"line {i}" for i in range(REPORT_LINES + 5))
    e = KernelCrash(TITLE, PROG, fresh=True, report=report, detail="kernel report: BUG: ...")
    assert isinstance(e, AssertionError)
    lines = str(e).splitlines()
    assert lines[0] == f"kernel report: {TITLE}"
    assert lines[1].startswith("bucket ") and lines[1].endswith("on a fresh VM")
    assert "program (2 calls; save it as a file for `rig run`):" in lines
    assert '  r0 = open("/dev/boundary", 0x2, 0x0)' in lines
    assert "  ioctl(r0, 0xc018b703, 0x0)" in lines
    assert lines[-1] == "  [5 more lines]" and f"  line {REPORT_LINES - 1}" in lines


def test_the_bucket_is_the_one_rig_crashes_shows() -> None:
    from rig.crash.bucket import bucket_id

    assert f"bucket {bucket_id(TITLE)}," in crash_message(TITLE, PROG, fresh=False)
    assert "a VM that had run earlier programs" in crash_message(TITLE, PROG, fresh=False)


# ---------------------------------------------------------------- genl helper


def test_genl_request_encodes_attributes_by_their_spec_types() -> None:
    msg = genl_request(SPEC, "boundary", "set", {"mode": 2, "label": "hi", "config": {"notify": 1}})
    ((_kind, flags, payload),) = list(nl.messages(msg))
    assert flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK
    assert payload[0] == 2, "the set command's id"
    attrs = dict(nl.attrs(payload[4:]))
    assert attrs[1] == struct.pack("<I", 2) and attrs[2] == b"hi\0"
    assert dict(nl.attrs(attrs[5])) == {2: b"\x01"}


def test_genl_request_refuses_an_attribute_the_command_set_lacks() -> None:
    with pytest.raises(ValueError, match="no 'colour'; it has: mode, label"):
        genl_request(SPEC, "boundary", "set", {"colour": 1})


def test_netlink_errno_reads_the_ack() -> None:
    ack = nl.nlmsg(nl.NLMSG_ERROR, 0, struct.pack("<i", -22) + bytes(16))
    assert netlink_errno(ack) == 22
    assert netlink_errno(nl.nlmsg(nl.NLMSG_ERROR, 0, bytes(20))) == 0
    assert netlink_errno(b"") is None
