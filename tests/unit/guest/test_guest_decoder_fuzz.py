"""The agent's decoders, compiled natively with ASan/UBSan, fed garbage and mutated programs.

For programs the agent's verdict must equal rig.prog.wire.decode's, so the
host never sends what the agent refuses and the agent never runs what the
model forbids.
"""

from __future__ import annotations

import struct
import subprocess
from collections.abc import Iterator

import pytest
from agent_support import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.guest.protocol import MAX_REQUEST, AgentConfig, encode_exec
from rig.prog import wire
from rig.prog.arbitrary import programs

PROGRAM, CONFIG, EXEC, FRAME = 0, 1, 2, 3
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Harness:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(build("fuzz"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def ask(self, what: int, data: bytes) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(struct.pack("<BI", what, len(data)) + data)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            assert self.proc.stderr is not None
            pytest.fail(
                f"decoder harness died on {data.hex()}:\n{self.proc.stderr.read().decode()}"
            )
        return line.decode().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(5) == 0


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "byte", "u32", "cut", "insert", "truncate"]))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and pos < len(data):
            data[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "u32" and pos + 4 <= len(data):
            v = draw(st.sampled_from([0, 1, 8, 0xFFFF, 0xFFFFFFFF, 0x1000000, 0x1000001]))
            data[pos : pos + 4] = struct.pack("<I", v)
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def python_verdict(data: bytes) -> bool:
    try:
        wire.decode(data)
    except wire.WireError:
        return False
    return True


def agree(harness: Harness, data: bytes) -> None:
    agent = harness.ask(PROGRAM, data)
    assert (agent == "ok") == python_verdict(data), (agent, data.hex())


@SETTINGS
@given(programs(max_calls=6))
def test_valid_programs_are_accepted(harness: Harness, program: wire.Program) -> None:
    assert harness.ask(PROGRAM, wire.encode(program)) == "ok"


@SETTINGS
@given(st.data())
def test_mutated_programs_get_the_same_verdict(harness: Harness, data: st.DataObject) -> None:
    base = wire.encode(data.draw(programs(max_calls=6)))
    agree(harness, data.draw(mutated(base)))


@SETTINGS
@given(st.binary(max_size=256))
def test_garbage_programs(harness: Harness, data: bytes) -> None:
    agree(harness, b"RIGP\x01\x00" + data)
    agree(harness, data)


CONFIGS = st.builds(
    AgentConfig,
    allow_paths=st.lists(st.sampled_from(["/dev/x", "/sys/kernel/debug/b/"]), max_size=3).map(
        tuple
    ),
    allow_families=st.lists(st.sampled_from(["boundary", "nlctrl"]), max_size=3).map(tuple),
    coverage_path=st.sampled_from([None, "/sys/kernel/debug/b/cov"]),
)


@SETTINGS
@given(st.data())
def test_config_and_exec_decoders_survive(harness: Harness, data: st.DataObject) -> None:
    config = data.draw(CONFIGS).encode()
    assert harness.ask(CONFIG, config) == "ok"
    harness.ask(CONFIG, data.draw(mutated(config)))
    exe = encode_exec(b"\x7fELF", ("a", "bc"), 1.0, 100)
    assert harness.ask(EXEC, exe) == "ok"
    harness.ask(EXEC, data.draw(mutated(exe)))
    harness.ask(CONFIG, data.draw(st.binary(max_size=64)))
    harness.ask(EXEC, data.draw(st.binary(max_size=64)))


def expected_scan(data: bytes) -> int:
    magic = b"RIGA"
    if len(data) < 4:
        return 0 if magic.startswith(data) else -1
    if data[:4] != magic:
        return -1
    if len(data) < 16:
        return 0
    length = struct.unpack_from("<I", data, 12)[0]
    if length > MAX_REQUEST:
        return -2
    return 16 + length if len(data) >= 16 + length else 0


@SETTINGS
@given(st.one_of(st.binary(max_size=40), st.binary(max_size=40).map(lambda b: b"RIGA" + b)))
def test_frame_scan(harness: Harness, data: bytes) -> None:
    assert harness.ask(FRAME, data) == f"scan {expected_scan(data)}"
