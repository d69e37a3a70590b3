"""Encoders and decoders of the agent protocol, and the helpers that read call outputs."""

from __future__ import annotations

import struct

import pytest
from agent_support import call_record, result_payload

from rig.errors import ConfigError, GuestProtocolError
from rig.guest.protocol import (
    AgentConfig,
    CallStatus,
    Cmp,
    decode_result,
    encode_exec,
    ioctl_buffers,
    netlink_errors,
)
from rig.prog.program import Buffer, Reloc, Special


def test_config_encoding() -> None:
    c = AgentConfig(
        ("/dev/b", "/sys/kernel/debug/b/"), ("boundary",), 1.5, "/sys/kernel/debug/b/cov"
    )
    raw = c.encode()
    assert struct.unpack_from("<III", raw) == (1500, 65536, 0)
    assert raw.endswith(struct.pack("<H", 1) + struct.pack("<I", 8) + b"boundary")
    assert AgentConfig(markers=False, dedup_coverage=True).encode()[8:12] == b"\x03\0\0\0"


@pytest.mark.parametrize(
    "config",
    [
        AgentConfig(allow_paths=("relative",)),
        AgentConfig(allow_paths=("/tab\t",)),
        AgentConfig(allow_families=("a-family-name-too-long",)),
        AgentConfig(allow_families=("",)),
        AgentConfig(call_timeout_s=601),
        AgentConfig(max_output=(1 << 20) + 1),
        AgentConfig(coverage_path="cov"),
        AgentConfig(allow_paths=tuple(f"/p{i}" for i in range(65))),
    ],
)
def test_bad_configs_are_refused_on_the_host(config: AgentConfig) -> None:
    with pytest.raises(ConfigError):
        config.encode()


def test_exec_limits() -> None:
    with pytest.raises(ConfigError):
        encode_exec(b"", (), 1, 10)
    with pytest.raises(ConfigError):
        encode_exec(b"x", ("\n",), 1, 10)


def test_result_with_coverage_and_comparisons() -> None:
    cmp_ = struct.pack("<IIQQ", 0b101, 0x40, 7, 9)
    rec = struct.pack("<BBHIqQ", 0, 2, 0, 0, 5, 77) + struct.pack("<I", 0)
    rec += struct.pack("<III", 2, 0x10, 0x20) + struct.pack("<I", 1) + cmp_
    r = decode_result(result_payload(9, [rec]), 9, 1, 100)
    c = r.calls[0]
    assert (c.status, c.ret, c.duration_ns, c.pcs) == (CallStatus.OK, 5, 77, (0x10, 0x20))
    assert c.cmps == (Cmp(0b101, 0x40, 7, 9),) and c.cmps[0].const and c.cmps[0].size == 4


def test_result_counts_are_bounded() -> None:
    rec = struct.pack("<BBHIqQ", 0, 0, 0, 0, 0, 0) + struct.pack("<I", 0)
    with pytest.raises(GuestProtocolError, match="PCs"):
        decode_result(result_payload(1, [rec + struct.pack("<I", 1 << 30)]), 1, 1, 10)
    with pytest.raises(GuestProtocolError, match="exceeds"):
        decode_result(result_payload(1, [call_record(out=b"x" * 11)]), 1, 1, 10)


def test_ioctl_buffers_follow_walk_order() -> None:
    inner = Buffer.of(b"", size=2)
    outer = Buffer.of(b"", size=16, ptrs=(Reloc(0, Special.NULL), Reloc(8, inner)))
    crossing = Buffer.of(b"", size=8, mapped=3)
    top = Buffer.of(b"", size=24, ptrs=(Reloc(0, outer), Reloc(8, crossing)))
    out = bytes(range(24 + 16 + 2 + 3))
    parts = ioctl_buffers(top, out)
    assert [len(p) for p in parts] == [24, 16, 2, 3]
    assert b"".join(parts) == out
    assert ioctl_buffers(5, b"") == []


def test_netlink_errors_stop_at_malformed_lengths() -> None:
    ack = struct.pack("<IHHII", 36, 2, 0, 1, 0) + struct.pack("<i", -22) + bytes(16)
    assert netlink_errors(ack + struct.pack("<IHHII", 9999, 2, 0, 1, 0)) == [-22]
    assert netlink_errors(b"\x01\x02") == []


def test_a_spec_names_what_programs_may_touch_whatever_the_module_is_called() -> None:
    from rig.guest.surface import COVERAGE_PATH, spec_config
    from rig.spec.types import Device, Spec

    cfg = spec_config(Spec("uvcvideo", (Device("/dev/video0"),)), 2.0)
    assert "/dev/video0" in cfg.allow_paths and cfg.coverage_path == COVERAGE_PATH
    assert cfg.call_timeout_s == 2.0


def test_a_long_listing_is_allowed_by_its_fullest_directories() -> None:
    """ip_gre's probe lists 204 sysfs files of three netdevs; the agent takes 64 entries."""
    from rig.guest.surface import allowlist

    netdevs = [
        f"/sys/devices/virtual/net/{dev}/{attr}"
        for dev in ("gre0", "gretap0", "erspan0")
        for attr in [f"a{i}" for i in range(60)] + [f"queues/rx-0/q{i}" for i in range(8)]
    ]
    paths = ["/dev/x", "/proc/x/ctl", *netdevs]
    got = allowlist(paths)
    assert len(got) <= 64
    assert "/dev/x" in got and "/proc/x/ctl" in got, "files the list fits keep their own entry"
    for p in paths:
        assert p in got or any(d.endswith("/") and p.startswith(d) for d in got), p
    assert all(d.count("/") - 1 >= 3 for d in got if d.endswith("/")), got
    assert allowlist(["/dev/b", "/dev/a"]) == ("/dev/b", "/dev/a"), "a short list is kept as is"
    with pytest.raises(ConfigError, match="no directory to merge"):
        allowlist([f"/f{i}" for i in range(65)])
