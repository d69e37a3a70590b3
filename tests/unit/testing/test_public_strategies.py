"""rig.strategies: programs aimed at one door are valid, keep to what was asked, and shrink small."""

from __future__ import annotations

import struct
from pathlib import Path
from random import Random

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from rig import strategies
from rig.image.build import REPO
from rig.prog import text
from rig.prog.program import Buffer, FileWrite, Ioctl, NlSend, NlSocket, Open, Program
from rig.spec.load import load
from rig.spec.netlink import NLMSG_HDRLEN

SPEC_PATH = REPO / "corpora" / "specs" / "boundary.yaml"
SPEC = load(SPEC_PATH)
XFER = SPEC.ioctl("BOUNDARY_IOC_XFER")
assert XFER is not None


def valid_and_round_trips(p: Program) -> None:
    p.validate()
    assert text.loads(text.dumps(p)).program == p


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_door_gives_valid_programs_that_round_trip(data: st.DataObject) -> None:
    strategy = data.draw(
        st.sampled_from(
            [
                strategies.ioctl(SPEC, "BOUNDARY_IOC_XFER"),
                strategies.ioctl(SPEC, "BOUNDARY_IOC_PEEK", abi=32),
                strategies.genl_message(SPEC, "boundary", "set"),
                strategies.file_write(SPEC, "/proc/boundary/ctl"),
                strategies.programs(SPEC),
            ]
        )
    )
    valid_and_round_trips(data.draw(strategy))


@settings(max_examples=40, deadline=None)
@given(strategies.ioctl(SPEC_PATH, "BOUNDARY_IOC_XFER"))
def test_ioctl_opens_the_device_then_runs_that_ioctl(p: Program) -> None:
    assert p.calls[0] == Open("/dev/boundary", 2)
    call = p.calls[1]
    assert isinstance(call, Ioctl) and call.fd == 0
    assert call.cmd == XFER.code, "a malformed draw bends the argument, never the command"


@settings(max_examples=40, deadline=None)
@given(strategies.genl_message(str(SPEC_PATH), "boundary", 2, malformed=0))
def test_genl_message_sends_the_named_command(p: Program) -> None:
    sock, send = p.calls
    assert isinstance(sock, NlSocket) and isinstance(send, NlSend)
    assert send.family == "boundary" and send.sock == 0
    assert send.msg[NLMSG_HDRLEN] == 2, "genlmsghdr.cmd is the command's id"
    assert struct.unpack_from("<I", send.msg)[0] == len(send.msg)


@settings(max_examples=40, deadline=None)
@given(strategies.file_write(SPEC, "/sys/devices/virtual/misc/boundary/mode", malformed=0))
def test_file_write_keeps_to_the_files_grammar(p: Program) -> None:
    (w,) = p.calls
    assert isinstance(w, FileWrite) and w.path.endswith("/mode")
    assert 0 <= int(w.data.strip()) <= 3


def test_a_failing_example_shrinks_to_the_two_calls_and_the_plainest_argument() -> None:
    def crashes(p: Program) -> bool:  # what ioctl_unconfigured needs: a readable xfer, reserved 0
        arg = p.calls[1].arg if isinstance(p.calls[1], Ioctl) else None
        return isinstance(arg, Buffer) and arg.size >= 24 and not any(arg.data[20:24])

    found = find(
        strategies.ioctl(SPEC, "BOUNDARY_IOC_XFER"), crashes, settings=settings(database=None)
    )
    assert len(found.calls) == 2
    assert isinstance(found.calls[1], Ioctl)
    arg = found.calls[1].arg
    assert isinstance(arg, Buffer) and arg.size == 24 and not arg.data.strip(b"\0")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_programs_shrink_to_the_calls_a_property_needs(seed: int) -> None:
    found = find(
        strategies.programs(SPEC, doors=["ioctl"]),
        lambda p: any(isinstance(c, Ioctl) and c.cmd == XFER.code for c in p.calls),
        settings=settings(database=None, max_examples=500),
        random=Random(seed),  # the shrinker's luck varies; CI sees the same runs every time
    )
    assert len(found.calls) <= 2, text.format_calls(found)  # open + XFER, or XFER on badfd


@settings(max_examples=30, deadline=None)
@given(strategies.programs(SPEC, max_calls=5, abis=(64, 32)))
def test_programs_keep_to_max_calls_and_the_abis(p: Program) -> None:
    assert 1 <= len(p.calls) <= 5 and p.abi in (64, 32)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: strategies.ioctl(SPEC, "BOUNDARY_IOC_NOPE"), "no ioctl 'BOUNDARY_IOC_NOPE'"),
        (lambda: strategies.genl_message(SPEC, "nope", "set"), "no netlink family 'nope'"),
        (lambda: strategies.genl_message(SPEC, "boundary", "nope"), "has no command 'nope'"),
        (lambda: strategies.file_write(SPEC, "/proc/nope"), "no file '/proc/nope'"),
        (lambda: strategies.file_write(SPEC, "/proc/boundary/status"), "is not writable"),
    ],
)
def test_a_name_the_spec_lacks_fails_when_the_strategy_is_made(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message) as e:
        make()
    if "no ioctl" in message:
        assert "BOUNDARY_IOC_XFER" in str(e.value), "the error lists what the spec has"


def test_a_spec_path_that_is_not_a_spec_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("rig-spec: 1\n")
    with pytest.raises(Exception, match=r"x\.yaml"):
        strategies.ioctl(bad, "X")
