"""Netlink wire primitives: message and attribute headers, written exactly or wrong on purpose.

Hand-written rather than pyroute2's nla classes: a fuzzer needs to state
every length and pad byte itself (bad nla_len, truncated attributes, broken
nesting), which pyroute2's declarative encoder always gets right, and these
few struct.pack lines are all the decoding the importers need.

    nlmsghdr    u32 len | u16 type | u16 flags | u32 seq | u32 pid     (16 bytes)
    genlmsghdr  u8 cmd | u8 version | u16 reserved                     (4 bytes)
    nlattr      u16 len (header included) | u16 type | payload | pad to 4
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

NLMSG_HDRLEN = 16
GENL_HDRLEN = 4
NLA_HDRLEN = 4
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF
NLMSG_ERROR = 2
NLMSG_DONE = 3
GENL_ID_CTRL = 0x10


def align4(n: int) -> int:
    return (n + 3) & ~3


def nla(kind: int, payload: bytes, length: int | None = None, pad: bool = True) -> bytes:
    """One attribute; `length` overrides nla_len (malformed on purpose when it disagrees)."""
    ln = NLA_HDRLEN + len(payload) if length is None else length
    raw = struct.pack("<HH", ln & 0xFFFF, kind & 0xFFFF) + payload
    return raw + b"\0" * (align4(len(raw)) - len(raw)) if pad else raw


def nlmsg(kind: int, flags: int, payload: bytes, seq: int = 0, length: int | None = None) -> bytes:
    ln = NLMSG_HDRLEN + len(payload) if length is None else length
    return struct.pack("<IHHII", ln & 0xFFFFFFFF, kind, flags, seq, 0) + payload


def genl(cmd: int, version: int, attrs: bytes) -> bytes:
    return struct.pack("<BBH", cmd & 0xFF, version & 0xFF, 0) + attrs


def attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type without flags, payload) of each well-formed attribute; stops at the first bad one."""
    off = 0
    while off + NLA_HDRLEN <= len(data):
        ln, kind = struct.unpack_from("<HH", data, off)
        if ln < NLA_HDRLEN or off + ln > len(data):
            return
        yield kind & NLA_TYPE_MASK, data[off + NLA_HDRLEN : off + ln]
        off += align4(ln)


def messages(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(type, flags, payload) of each netlink message in a buffer of replies."""
    off = 0
    while off + NLMSG_HDRLEN <= len(data):
        ln, kind, flags, _seq, _pid = struct.unpack_from("<IHHII", data, off)
        if ln < NLMSG_HDRLEN or off + ln > len(data):
            return
        yield kind, flags, data[off + NLMSG_HDRLEN : off + ln]
        off += align4(ln)


def u(payload: bytes) -> int:
    """An unsigned little-endian integer of 1, 2, 4 or 8 bytes (0 if the size is odd)."""
    return int.from_bytes(payload, "little") if len(payload) in (1, 2, 4, 8) else 0


def s(payload: bytes) -> int:
    return int.from_bytes(payload, "little", signed=True) if len(payload) in (1, 2, 4, 8) else 0
