"""rtnetlink link requests: named links created, changed, enslaved, brought up and down, deleted."""

from __future__ import annotations

import struct
from collections import Counter

from rig.gen.build import Builder
from rig.gen.choose import RandomChooser
from rig.gen.rtnl import (
    CREATE,
    DELETE,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    operation,
)
from rig.prog import wire
from rig.prog.program import NETLINK_ROUTE, NlSend, NlSocket
from rig.spec import netlink as nl
from rig.spec.types import LinkKind, NlAttr, NlAttrSet, Spec

VETHISH = LinkKind(
    "toylink",
    data="info",
    attr_sets=(NlAttrSet("info", (NlAttr("mode", 1, "u32", max=3), NlAttr("name", 2, "string"))),),
)
SPEC = Spec("toy", links=(VETHISH, LinkKind("plain")))


def attrs_of(msg: bytes, offset: int) -> dict[int, bytes]:
    out = {}
    while offset + 4 <= len(msg):
        ln, kind = struct.unpack_from("<HH", msg, offset)
        if ln < 4:
            break
        out[kind & 0x3FFF] = msg[offset + 4 : offset + ln]
        offset += (ln + 3) & ~3
    return out


def test_links_go_out_raw_on_route_sockets_and_every_operation_occurs() -> None:
    b = Builder(SPEC, RandomChooser(4), doors=("netlink",), malformed=0)
    ops: Counter[str] = Counter()
    kinds: Counter[bytes] = Counter()
    for _ in range(300):
        p = b.program()
        wire.decode(wire.encode(p))
        for c in p.calls:
            if isinstance(c, NlSend):
                assert c.family == "@route"
                sock = p.calls[c.sock]
                assert isinstance(sock, NlSocket) and sock.protocol == NETLINK_ROUTE
                op = operation(c.msg)
                assert op is not None
                ops[op] += 1
                top = attrs_of(c.msg, nl.NLMSG_HDRLEN + 16)
                if op != "get":  # a dump names no link
                    assert top[IFLA_IFNAME].rstrip(b"\0").startswith(b"rig")
                if op == CREATE:
                    info = attrs_of(top[IFLA_LINKINFO], 0)
                    kinds[info[IFLA_INFO_KIND].rstrip(b"\0")] += 1
                    if IFLA_INFO_DATA in info and info[IFLA_INFO_KIND] == b"toylink\0":
                        data = attrs_of(info[IFLA_INFO_DATA], 0)
                        assert set(data) <= {1, 2}, "the kind's own attribute set"
    assert set(ops) == {"create", "change", "updown", "delete", "get"}
    assert ops[CREATE] > ops[DELETE] / 2
    assert set(kinds) == {b"toylink", b"plain"}


def test_a_spec_without_links_sends_no_rtnetlink() -> None:
    b = Builder(Spec("toy"), RandomChooser(1), doors=("netlink",))
    assert b.empty


def test_acked_link_requests_are_counted_by_operation() -> None:
    from rig.campaign.worker import acked_links
    from rig.gen.rtnl import RTM_DELLINK, RTM_NEWLINK, ifinfomsg
    from rig.guest.protocol import CallResult, CallStatus, CovStatus, ProgramResult, ProgStatus
    from rig.prog.program import Program

    def ack(err: int) -> bytes:
        return nl.nlmsg(nl.NLMSG_ERROR, 0, struct.pack("<i", err) + bytes(16))

    create = nl.nlmsg(RTM_NEWLINK, 0x605, ifinfomsg(), 1)
    delete = nl.nlmsg(RTM_DELLINK, 0x5, ifinfomsg(), 1)
    p = Program(
        (NlSocket(0), NlSend(0, "@route", create), NlSend(0, "@route", delete),
         NlSend(0, "@route", create))
    )  # fmt: skip
    outs = [b"", ack(0), ack(0), ack(-17)]  # the second create: EEXIST
    r = ProgramResult(
        1, ProgStatus.OK, 0, CovStatus.OFF, 0,
        tuple(CallResult(CallStatus.OK, 0, 0, 0, o) for o in outs),
    )  # fmt: skip
    assert acked_links(p, r) == {"create": 1, "delete": 1}
