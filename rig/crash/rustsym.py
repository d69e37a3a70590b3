"""Rust v0 symbol names (`_R...`) as rustc-demangle prints them in its short form.

Kernels with Rust code print mangled v0 names in their stack traces, and syzkaller
titles name the demangled path (`<rust_binder::process::Process>::update_ref`), so a
report's frames are demangled before they are skipped or turned into a title.

Symbols come from an untrusted console: back references can nest so that the output
grows exponentially, so depth and output size are capped, and anything this module
cannot read is left as it was printed (a title with a mangled name beats no title).

Grammar: https://doc.rust-lang.org/rustc/symbol-mangling/v0.html. We wrote this rather
than depend on the `rust-demangler` PyPI port: that port is unmaintained and has no
bound on back-reference expansion, which a hostile console could use.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

MAX_SYMBOL: Final = 1024  # kernel symbols are at most KSYM_NAME_LEN (512) bytes
_MAX_OUT: Final = 4096
_MAX_DEPTH: Final = 64
_MAX_STEPS: Final = 4096  # back references can make a short symbol name a lot of work

_BASIC: Final = {
    "a": "i8", "b": "bool", "c": "char", "d": "f64", "e": "str", "f": "f32", "h": "u8",
    "i": "isize", "j": "usize", "l": "i32", "m": "u32", "n": "i128", "o": "u128",
    "s": "i16", "t": "u16", "u": "()", "v": "...", "x": "i64", "y": "u64", "z": "!",
    "p": "_",
}  # fmt: skip
_SIGNED: Final = frozenset("alnsxi")
_UNSIGNED: Final = frozenset("hmotyj")
_B62: Final = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _lifetime_name(depth: int) -> str:
    return "'" + chr(ord("a") + depth) if depth < 26 else f"'_{depth}"


class _Invalid(Exception):
    """The symbol does not follow the grammar, or is too deep or too long to print."""


@lru_cache(maxsize=4096)
def demangle(name: str) -> str:
    """`name` demangled when it is a Rust v0 symbol; otherwise, or when it is not valid,
    `name` itself."""
    if not name.startswith("_R") or len(name) > MAX_SYMBOL:
        return name
    try:
        return _Reader(name).symbol()
    except (_Invalid, IndexError, ValueError, RecursionError):
        return name


class _Reader:
    def __init__(self, name: str) -> None:
        self.s = name[2:]
        self.i = 0
        self.depth = 0
        self.steps = 0
        self.bound = 0  # lifetimes bound by the for<...> binders around this point
        self.out: list[str] = []
        self.size = 0

    # -- output ----------------------------------------------------------------------
    def put(self, text: str) -> None:
        self.size += len(text)
        if self.size > _MAX_OUT:
            raise _Invalid("too long")
        self.out.append(text)

    # -- input -----------------------------------------------------------------------
    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def eat(self, c: str) -> bool:
        if self.peek() == c:
            self.i += 1
            return True
        return False

    def next(self) -> str:
        c = self.s[self.i]  # IndexError past the end: invalid
        self.i += 1
        return c

    def base62(self) -> int:
        """`_` is 0; digits then `_` are their value plus one."""
        if self.eat("_"):
            return 0
        n = 0
        while not self.eat("_"):
            d = _B62.find(self.next())
            if d < 0:
                raise _Invalid("base-62 digit")
            n = n * 62 + d
            if n > 1 << 64:
                raise _Invalid("number")
        return n + 1

    def opt_base62(self, tag: str) -> int:
        return self.base62() + 1 if self.eat(tag) else 0

    def decimal(self) -> int:
        if self.eat("0"):
            return 0  # "0" is a whole number: a digit after it starts the next token
        start = self.i
        while self.peek().isdigit():
            self.i += 1
        if start == self.i:
            raise _Invalid("decimal")
        return int(self.s[start : self.i])

    def ident(self) -> tuple[str, int]:
        """An identifier and its disambiguator."""
        dis = self.opt_base62("s")
        puny = self.eat("u")
        n = self.decimal()
        self.eat("_")  # separates a length from an identifier that starts with a digit or _
        text = self.s[self.i : self.i + n]
        if len(text) != n:
            raise _Invalid("identifier")
        self.i += n
        if puny:
            text = "punycode{" + text + "}"
        return text, dis

    # -- grammar ---------------------------------------------------------------------
    def symbol(self) -> str:
        if self.peek().isdigit():
            self.decimal()  # encoding version
        self.path(in_value=True)
        # An instantiating crate and a vendor suffix may follow; neither is printed.
        return "".join(self.out)

    def _enter(self) -> None:
        self.depth += 1
        self.steps += 1
        if self.depth > _MAX_DEPTH or self.steps > _MAX_STEPS:
            raise _Invalid("too deep or too much work")

    def _follow(self, read: Callable[[], None]) -> None:
        """`read` what a back reference points at, then carry on after the reference."""
        at = self.base62()
        if at >= self.i - 1:
            raise _Invalid("forward back reference")
        resume, self.i = self.i, at
        read()
        self.i = resume

    def path(self, in_value: bool) -> None:
        self._enter()
        tag = self.next()
        if tag == "C":
            self.put(self.ident()[0])
        elif tag == "M":
            self.opt_base62("s")
            self.skip_path()
            self.put("<")
            self.type()
            self.put(">")
        elif tag in "XY":
            if tag == "X":
                self.opt_base62("s")
                self.skip_path()
            self.put("<")
            self.type()
            self.put(" as ")
            self.path(in_value=False)
            self.put(">")
        elif tag == "N":
            ns = self.next()
            self.path(in_value)
            name, dis = self.ident()
            if ns.isupper():
                kind = {"C": "closure", "S": "shim"}.get(ns, ns)
                label = f"{kind}:{name}" if name else kind
                self.put(f"::{{{label}#{dis}}}")
            elif ns.islower() and name:
                self.put("::" + name)
            elif not ns.islower():
                raise _Invalid("namespace")
        elif tag == "I":
            self.path(in_value)
            self.put("::<" if in_value else "<")
            self.generic_args()
            self.put(">")
        elif tag == "B":
            self._follow(lambda: self.path(in_value))
        else:
            raise _Invalid("path")
        self.depth -= 1

    def skip_path(self) -> None:
        """An impl's own path: read, not printed (rustc-demangle shows only its type)."""
        mark, size = len(self.out), self.size
        self.path(in_value=False)
        del self.out[mark:]
        self.size = size

    def items(self, item: Callable[[], None], sep: str) -> int:
        """`item`s up to an "E", `sep` between them; how many there were."""
        n = 0
        while not self.eat("E"):
            if n:
                self.put(sep)
            item()
            n += 1
        return n

    def generic_args(self) -> None:
        self.items(self.generic_arg, ", ")

    def generic_arg(self) -> None:
        if self.eat("L"):
            self.put(self.lifetime(self.base62()))
        elif self.eat("K"):
            self.const()
        else:
            self.type()

    def lifetime(self, n: int) -> str:
        """Lifetime index `n` (counted back from the innermost binder) by name."""
        if n == 0:
            return "'_"
        depth = self.bound - n
        if depth < 0:
            raise _Invalid("lifetime")
        return _lifetime_name(depth)

    def binder(self) -> int:
        """An optional for<...> binder: prints it, returns how many lifetimes it binds."""
        n = self.opt_base62("G")
        if n:
            names = [_lifetime_name(d) for d in range(self.bound, self.bound + n)]
            self.bound += n
            self.put("for<" + ", ".join(names) + "> ")
        return n

    def type(self) -> None:
        self._enter()
        tag = self.peek()
        if tag in _BASIC:
            self.i += 1
            self.put(_BASIC[tag])
        elif tag in "CMXYNI":
            self.path(in_value=False)
        elif tag == "B":
            self.i += 1
            self._follow(self.type)
        else:
            self.i += 1
            self.compound(tag)
        self.depth -= 1

    def compound(self, tag: str) -> None:
        if tag in "RQ":
            self.put("&")
            if self.eat("L"):
                n = self.base62()
                if n:
                    self.put(self.lifetime(n) + " ")
            if tag == "Q":
                self.put("mut ")
            self.type()
        elif tag in "PO":
            self.put("*const " if tag == "P" else "*mut ")
            self.type()
        elif tag in "AS":
            self.put("[")
            self.type()
            if tag == "A":
                self.put("; ")
                self.const()
            self.put("]")
        elif tag == "T":
            self.put("(")
            n = self.items(self.type, ", ")
            self.put(",)" if n == 1 else ")")
        elif tag == "F":
            self.fn_sig()
        elif tag == "D":
            self.dyn_bounds()
        else:
            raise _Invalid("type")

    def fn_sig(self) -> None:
        bound = self.binder()
        if self.eat("U"):
            self.put("unsafe ")
        if self.eat("K"):
            if self.eat("C"):
                abi = "C"
            else:
                abi, _ = self.ident()
            self.put(f'extern "{abi.replace("_", "-")}" ')
        self.put("fn(")
        self.items(self.type, ", ")
        self.put(")")
        if self.peek() == "u":
            self.i += 1
        else:
            self.put(" -> ")
            self.type()
        self.bound -= bound

    def dyn_bounds(self) -> None:
        self.put("dyn ")
        bound = self.binder()
        self.items(self.dyn_trait, " + ")
        self.bound -= bound
        if not self.eat("L"):
            raise _Invalid("dyn lifetime")
        n = self.base62()
        if n:
            self.put(" + " + self.lifetime(n))

    def dyn_trait(self) -> None:
        # A trait path, then associated type bindings printed as Trait<Name = T>.
        self.path(in_value=False)
        opened = False
        while self.eat("p"):
            if opened:
                self.put(", ")
            elif self.out and self.out[-1] == ">":
                self.out.pop()  # the trait's own generic list stays open for them
                self.put(", ")
            else:
                self.put("<")
            opened = True
            name, _ = self.ident()
            self.put(f"{name} = ")
            self.type()
        if opened:
            self.put(">")

    def const(self) -> None:
        self._enter()
        tag = self.next()
        if tag == "B":
            self._follow(self.const)
        elif tag == "p":
            self.put("_")
        elif tag in _SIGNED or tag in _UNSIGNED:
            neg = tag in _SIGNED and self.eat("n")
            self.put(("-" if neg else "") + str(self.hex()))
        elif tag == "b":
            self.put({0: "false", 1: "true"}[self.hex()])
        elif tag == "c":
            self.put(repr(chr(self.hex())))
        else:
            raise _Invalid("const")
        self.depth -= 1

    def hex(self) -> int:
        start = self.i
        while self.peek() != "_":
            if self.next() not in "0123456789abcdef":
                raise _Invalid("hex")
        digits = self.s[start : self.i]
        self.i += 1
        if len(digits) > 32:
            raise _Invalid("hex")
        return int(digits or "0", 16)
