"""rtnetlink link messages for the link kinds a module registers: create, change, enslave, up, down, delete.

Links are named, not numbered: a program creates `rig0`..`rig3` and later
messages find them by IFLA_IFNAME, which RTM_NEWLINK, RTM_SETLINK,
RTM_DELLINK and RTM_GETLINK all accept, so no interface index has to be
carried from one call's reply into the next. Where an index is needed
(IFLA_MASTER, IFLA_LINK, ifi_index) small numbers are tried: a fresh guest
has lo at 1 and numbers the links it creates from there up.

IFLA_INFO_DATA and IFLA_INFO_SLAVE_DATA take the link kind's attribute sets
when the spec has them (built like generic netlink attributes, valid or
malformed); without them, attributes of guessed ids and sizes.
"""

from __future__ import annotations

import struct

from rig.gen.choose import Chooser, between, chance, pick
from rig.gen.nlgen import NetlinkBuilder
from rig.gen.values import SMALL
from rig.spec import netlink as nl
from rig.spec.types import LinkKind, NlAttr, NlAttrSet

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_MASTER, IFLA_TXQLEN, IFLA_LINKINFO, IFLA_GROUP = 10, 13, 18, 27
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES = 31, 32
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFF_UP = 0x1
NAMES = ("rig0", "rig1", "rig2", "rig3")
GUESSED = ("u8", "u16", "u32", "u32", "u64", "flag", "string", "binary")
MTUS = [0, 68, 576, 1280, 1500, 9000, 65535, 65536, 0xFFFFFFFF]

# What a message does, for counting: (type, flags) -> operation.
CREATE, CHANGE, DELETE, UPDOWN, GET = "create", "change", "delete", "updown", "get"


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, kind: int = 0) -> bytes:
    return struct.pack("<BBHiII", 0, 0, kind, index, flags, change)


def operation(msg: bytes) -> str | None:
    """What an rtnetlink link request asks for, from its header; None if not one."""
    if len(msg) < nl.NLMSG_HDRLEN + 16:
        return None
    _, kind, flags = struct.unpack_from("<IHH", msg)
    if kind == RTM_NEWLINK:
        return CREATE if flags & NLM_F_CREATE else CHANGE
    if kind == RTM_SETLINK:
        return UPDOWN
    if kind == RTM_DELLINK:
        return DELETE
    return GET if kind == RTM_GETLINK else None


class RtnlBuilder:
    """One rtnetlink request at a time, for the spec's link kinds."""

    def __init__(self, links: tuple[LinkKind, ...], c: Chooser, netlink: NetlinkBuilder) -> None:
        self.links, self.c, self.netlink = links, c, netlink

    def message(self, valid: bool, seq: int = 1) -> bytes:
        c = self.c
        how = pick(c, [CREATE, CREATE, CREATE, CHANGE, CHANGE, UPDOWN, DELETE, DELETE, GET])
        kind = pick(c, self.links)
        name = pick(c, NAMES)
        req = nl.NLM_F_REQUEST | nl.NLM_F_ACK
        if how == CREATE:
            attrs = self._name(name, valid) + self._extras(valid) + self._info(kind, valid)
            flags = req | NLM_F_CREATE | (NLM_F_EXCL if chance(c, 70) else 0)
            up = IFF_UP if chance(c, 30) else 0
            msg = nl.nlmsg(RTM_NEWLINK, flags, ifinfomsg(flags=up, change=up) + attrs, seq)
        elif how == CHANGE:
            attrs = self._name(name, valid) + self._extras(valid)
            if chance(c, 70):
                attrs += self._info(kind, valid)
            msg = nl.nlmsg(RTM_NEWLINK, req, ifinfomsg() + attrs, seq)
        elif how == UPDOWN:
            up = IFF_UP if chance(c, 60) else 0
            body = ifinfomsg(flags=up, change=IFF_UP) + self._name(name, valid)
            msg = nl.nlmsg(pick(c, [RTM_SETLINK, RTM_NEWLINK]), req, body, seq)
        elif how == DELETE:
            msg = nl.nlmsg(RTM_DELLINK, req, ifinfomsg() + self._name(name, valid), seq)
        else:
            dump = chance(c, 40)
            body = ifinfomsg() + (b"" if dump else self._name(name, valid))
            msg = nl.nlmsg(RTM_GETLINK, nl.NLM_F_REQUEST | (nl.NLM_F_DUMP if dump else 0), body)
        if not valid:
            msg = self._break(msg)
        return msg

    def _name(self, name: str, valid: bool) -> bytes:
        if not valid and chance(self.c, 10):
            name = pick(self.c, ["", "x" * 15, "x" * 16, "lo", "rig0/..", "%d"])
        return nl.nla(IFLA_IFNAME, name.encode() + b"\0")

    def _index(self) -> bytes:
        """An interface index: small, as a fresh guest numbers its links."""
        return struct.pack("<I", self.c.below(SMALL))

    def _extras(self, valid: bool) -> bytes:
        """Link attributes every kind takes: a master, a lower link, an MTU, queues."""
        c = self.c
        out = b""
        if chance(c, 20):
            out += nl.nla(IFLA_MASTER, self._index())
        if chance(c, 10):
            out += nl.nla(IFLA_LINK, self._index())
        if chance(c, 15):
            out += nl.nla(IFLA_MTU, struct.pack("<I", pick(c, MTUS)))
        if chance(c, 10):
            out += nl.nla(IFLA_ADDRESS, c.bytes(pick(c, [6, 6, 0, 1, 32])))
        if chance(c, 10):
            queues = pick(c, [0, 1, 2, 16, 4096, 0xFFFFFFFF])
            out += nl.nla(
                pick(c, [IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES]), struct.pack("<I", queues)
            )
        if chance(c, 5):
            out += nl.nla(pick(c, [IFLA_TXQLEN, IFLA_GROUP]), struct.pack("<I", c.uint(4)))
        if not valid and chance(c, 20):
            out += nl.nla(between(c, 1, 64), c.bytes(pick(c, [0, 1, 4, 8, 17])))
        return out

    def _info(self, kind: LinkKind, valid: bool) -> bytes:
        """IFLA_LINKINFO: the kind and its data, or the data this link has as a slave."""
        c = self.c
        inner = nl.nla(IFLA_INFO_KIND, kind.kind.encode() + (b"\0" if chance(c, 80) else b""))
        if chance(c, 60):
            inner += nl.nla(IFLA_INFO_DATA | nl.NLA_F_NESTED, self._data(kind, kind.data, valid))
        if chance(c, 15):
            inner += nl.nla(IFLA_INFO_SLAVE_KIND, kind.kind.encode() + b"\0")
            data = self._data(kind, kind.slave_data, valid)
            inner += nl.nla(IFLA_INFO_SLAVE_DATA | nl.NLA_F_NESTED, data)
        return nl.nla(IFLA_LINKINFO | nl.NLA_F_NESTED, inner)

    def _data(self, kind: LinkKind, set_name: str | None, valid: bool) -> bytes:
        fam = kind.family
        aset = fam.attr_set(set_name) if set_name else None
        if aset is None:
            guessed = tuple(
                NlAttr(f"a{i}", i, pick(self.c, GUESSED))
                for i in sorted({between(self.c, 1, 16) for _ in range(between(self.c, 0, 4))})
            )
            aset = NlAttrSet("guessed", guessed)
        return self.netlink.attrs(fam, aset, aset.attrs, valid, 0)

    def _break(self, msg: bytes) -> bytes:
        c = self.c
        if chance(c, 20):
            return msg[: between(c, nl.NLMSG_HDRLEN, len(msg))]
        if chance(c, 10):
            b = bytearray(msg)
            b[4:6] = struct.pack("<H", pick(c, [RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, 0x5F, 0]))
            return bytes(b)
        return msg
