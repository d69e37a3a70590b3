"""Generic netlink requests built from a family's spec: valid, or malformed in the ways parsers get wrong.

Valid: a declared command with its request attributes, each typed and
within its policy (nests flagged NLA_F_NESTED, as strict validation wants).
Malformed: attributes of the wrong size, nla_len shorter than a header or
longer than what follows, truncated payloads, unknown attribute types,
strings without a terminator or past max-len, binaries past max-len, broken
or missing nest flags, nests of garbage, undeclared commands and versions,
wrong nlmsg_len, and several messages in one send.
"""

from __future__ import annotations

from rig.gen.choose import Chooser, between, chance, pick
from rig.gen.hints import Hints
from rig.gen.values import PAGE, int_value, interesting, le, text_bytes
from rig.spec import netlink as nl
from rig.spec.types import NL_INT_TYPES, Int, NlAttr, NlAttrSet, NlCommand, NlFamily, Spec

MAX_NEST = 4


class NetlinkBuilder:
    def __init__(self, spec: Spec, c: Chooser, hints: Hints | None = None) -> None:
        self.spec, self.c, self.hints = spec, c, hints

    def message(self, fam: NlFamily, valid: bool, seq: int = 1) -> bytes:
        c = self.c
        msg = self._one(fam, valid, seq)
        if not valid and chance(c, 10):
            msg += self._one(fam, chance(c, 50), seq + 1)
        if not valid and chance(c, 15):
            msg = self._break_header(msg)
        return msg

    def _one(self, fam: NlFamily, valid: bool, seq: int) -> bytes:
        c = self.c
        usable = [cmd for cmd in fam.commands if cmd.do or cmd.dump]
        if not usable or (not valid and chance(c, 10)):
            cmd_id = pick(c, [0, max((x.id for x in fam.commands), default=0) + 1, 0xFF])
            cmd_id = cmd_id if not fam.commands or chance(c, 70) else pick(c, fam.commands).id
            aset = fam.attr_sets[0] if fam.attr_sets else NlAttrSet(fam.name)
            attrs = self.attrs(fam, aset, aset.attrs, valid, 0)
            flags = nl.NLM_F_REQUEST | pick(c, [nl.NLM_F_ACK, nl.NLM_F_DUMP])
            return nl.nlmsg(0, flags, nl.genl(cmd_id, fam.version, attrs), seq)
        return self.request(fam, pick(c, usable), valid, seq)

    def request(self, fam: NlFamily, cmd: NlCommand, valid: bool, seq: int = 1) -> bytes:
        """One request of a given command (what a targeted property test sends)."""
        return nl.nlmsg(0, self._flags(cmd, valid), self._payload(fam, cmd, valid), seq)

    def _flags(self, cmd: NlCommand, valid: bool) -> int:
        c = self.c
        dump = cmd.dump and (not cmd.do or chance(c, 50))
        flags = nl.NLM_F_REQUEST | (nl.NLM_F_DUMP if dump else nl.NLM_F_ACK)
        if not valid and chance(c, 10):
            flags = c.uint(2)
        return flags

    def _payload(self, fam: NlFamily, cmd: NlCommand, valid: bool) -> bytes:
        c = self.c
        aset = fam.attr_set(cmd.attr_set) or NlAttrSet(cmd.attr_set)
        allowed = tuple(a for a in aset.attrs if not cmd.attrs or a.name in cmd.attrs)
        if not valid and chance(c, 20):
            allowed = aset.attrs
        attrs = self.attrs(fam, aset, allowed, valid, 0)
        version = fam.version
        if not valid and chance(c, 5):
            version = c.uint(1)
        if not valid and chance(c, 5):
            return attrs  # no genetlink header at all
        return nl.genl(cmd.id, version, attrs)

    def attrs(
        self,
        fam: NlFamily,
        aset: NlAttrSet,
        allowed: tuple[NlAttr, ...],
        valid: bool,
        depth: int,
    ) -> bytes:
        c = self.c
        out = b""
        usable = [a for a in allowed if a.type not in ("pad", "unused")]
        n = between(c, 0, len(usable) + (0 if valid else 2)) if usable else 0
        for _ in range(n):
            a = pick(c, usable)
            out += self.attr(fam, a, valid, depth)
        if not valid and chance(c, 20):
            out += self._unknown(aset)
        if not valid and chance(c, 10) and out:
            out = out[: c.below(len(out))]  # truncated in the middle of an attribute
        return out

    def attr(self, fam: NlFamily, a: NlAttr, valid: bool, depth: int) -> bytes:
        c = self.c
        broken = not valid and chance(c, 35)
        payload = self._payload_of(fam, a, valid, depth)
        kind = a.id
        if a.type in ("nest", "indexed-array"):
            kind |= nl.NLA_F_NESTED
        if broken:
            how = c.below(5)
            if how == 0:  # nla_len disagrees with what follows
                ln = pick(c, [0, 1, 3, 4, len(payload) + 3, len(payload) + 5, 0xFFFF])
                return nl.nla(kind, payload, length=ln)
            if how == 1:  # wrong payload size for its type
                payload = c.bytes(pick(c, [0, 1, 2, 3, 5, 7, 9, 16]))
            elif how == 2:  # nest flag toggled
                kind ^= nl.NLA_F_NESTED
            elif how == 3:  # unpadded, so the next attribute starts misaligned
                return nl.nla(kind, payload, pad=False)
            else:  # the byte-order flag, which nothing here expects
                kind |= nl.NLA_F_NET_BYTEORDER
        return nl.nla(kind, payload)

    def _payload_of(self, fam: NlFamily, a: NlAttr, valid: bool, depth: int) -> bytes:
        c = self.c
        if a.type in NL_INT_TYPES or a.type in ("uint", "sint"):
            size = NL_INT_TYPES.get(a.type, pick(c, [4, 8]))
            t = Int(size, a.type.startswith("s"), a.min, a.max, a.values)
            return le(int_value(c, t, valid, self.hints, f"nl:{fam.name}.{a.name}"), size)
        if a.type == "flag":
            return b"" if valid or chance(c, 50) else c.bytes(4)
        if a.type == "bitfield32":
            return le(c.uint(4), 4) + le(c.uint(4), 4)
        if a.type == "string":
            top = a.max_len if a.max_len is not None else 64
            raw = text_bytes(c, self.spec, top, valid)
            if a.min_len is not None and valid:
                raw = raw.ljust(a.min_len, b"a")
            return raw + b"\0" if valid or chance(c, 50) else raw
        if a.type in ("nest", "indexed-array"):
            return self._nest(fam, a, valid, depth)
        return self._binary(a, valid)

    def _binary(self, a: NlAttr, valid: bool) -> bytes:
        c = self.c
        if a.exact_len is not None:
            n = a.exact_len if valid or chance(c, 50) else a.exact_len + pick(c, [-1, 1])
            return c.bytes(max(n, 0))
        lo = a.min_len or 0
        hi = a.max_len if a.max_len is not None else 512
        sizes = [s for s in (lo, hi, lo + 1, hi - 1, 1, 4, 8, 16, 64) if lo <= s <= hi]
        n = pick(c, [*sizes, between(c, lo, hi)]) if sizes else lo
        if not valid and chance(c, 50):
            n = pick(c, [hi + 1, hi + 2, 2 * hi, PAGE, max(lo - 1, 0)])
        data = c.bytes(min(n, 256))
        if len(data) < n:  # past what the chooser gives: a repeated byte keeps it short to encode
            data += bytes([data[-1] if data else 0x41]) * (n - len(data))
        return data

    def _nest(self, fam: NlFamily, a: NlAttr, valid: bool, depth: int) -> bytes:
        c = self.c
        inner = fam.attr_set(a.nested or "")
        if inner is None or depth >= MAX_NEST:
            return b"" if valid else c.bytes(between(c, 0, 16))
        if not valid and chance(c, 15):
            return c.bytes(between(c, 1, 24))  # a nest of garbage
        if a.type == "indexed-array":
            out = b""
            for i in range(between(c, 0, 4)):
                body = self.attrs(fam, inner, inner.attrs, valid, depth + 1)
                out += nl.nla(i | nl.NLA_F_NESTED, body)
            return out
        return self.attrs(fam, inner, inner.attrs, valid, depth + 1)

    def _unknown(self, aset: NlAttrSet) -> bytes:
        c = self.c
        top = aset.max_id
        kind = pick(c, [0, top + 1, top + 2, top + 16, nl.NLA_TYPE_MASK])
        return nl.nla(kind, c.bytes(pick(c, [0, 1, 4, 8, 16])))

    def _break_header(self, msg: bytes) -> bytes:
        c = self.c
        how = c.below(3)
        if how == 0:
            ln = pick(c, [0, 1, 15, 16, len(msg) - 1, len(msg) + 1, len(msg) + 4096, 0xFFFFFFFF])
            return le(ln, 4) + msg[4:]
        if how == 1:
            return msg[: c.below(len(msg))]
        return msg + c.bytes(pick(c, [1, 3, 4, 16]))


def message_ints(fam: NlFamily) -> list[int]:
    """Constants of a family worth seeding a dictionary with (ids, limits)."""
    out = {cmd.id for cmd in fam.commands}
    for s in fam.attr_sets:
        for a in s.attrs:
            out |= {v for v in (a.min, a.max, a.max_len, a.min_len, a.exact_len) if v is not None}
            out |= set(a.values)
    return sorted(v for v in out if v >= 0) + interesting(1)[:4]
