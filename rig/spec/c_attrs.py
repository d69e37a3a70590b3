"""GNU attributes that change a layout (`packed`, `aligned`), carried through pycparser.

pycparser has no grammar for `__attribute__((...))` (2.x none at all, 3.x
only C23 `[[...]]` in C23's positions, not GNU's), so preprocessed text used
to lose every attribute, and with it the layout of packed structs and of
`__aligned_u64` members. `carry_attributes` rewrites the text so pycparser can
parse it and the layout code still sees them:

- an attribute list with neither `packed` nor `aligned` (`__nothrow__`,
  `deprecated`, `format`, ...) changes no layout and is blanked out;
- `packed`/`aligned` become marker declarations, which every pycparser
  parses, placed where they reach the thing GNU applies them to:
  * after `struct`/`union` or after a record body's `}`: a marker member at
    the start of that body (`char __rig_attr_r_0_0_packed_1;`), for the record;
  * on a member: a marker member just before the member's declaration, naming
    the declarators it covers (all of them in the declaration specifiers, one
    when it follows a declarator);
  * on a file-scope declaration (a typedef): a marker declaration before it.
  `aligned(N)` keeps N as an array size (`char __rig_attr_m_0_1_aligned_2[(N)];`),
  so N is parsed and evaluated like any constant of the header.

Blanked and moved text keeps its newlines, so pycparser's line numbers still
point into the header (the import reads field comments by line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX = "__rig_attr_"
# scope (r: the record, m: members, t: file-scope declarations), first
# declarator, declarator count, attribute, a counter keeping names distinct.
MARKER = re.compile(PREFIX + r"([rmt])_(\d+)_(\d+)_(packed|aligned)_\d+$")

_TOKEN = re.compile(
    r"""
    (?P<directive>^[ \t]*\#[^\n]*)
  | (?P<space>[ \t\r\f\v]+|\n)
  | (?P<string>(?:L|u8|u|U)?"(?:[^"\\\n]|\\.)*")
  | (?P<char>(?:L|u8|u|U)?'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<number>\.?\d(?:[eEpP][+-]|[\w.])*)
  | (?P<punct>->|\+\+|--|<<=|>>=|<<|>>|<=|>=|==|!=|&&|\|\||\.\.\.|.)
    """,
    re.X | re.M | re.S,
)
_ATTRIBUTE = ("__attribute__", "__attribute")
# The most any object is aligned to on x86_64: what a bare `aligned` means.
BIGGEST_ALIGNMENT = 16


@dataclass
class _Tok:
    kind: str
    text: str

    @property
    def significant(self) -> bool:
        return self.kind not in ("space", "directive")


@dataclass
class _Scope:
    """A brace level: the file, a struct/union body, an enum body or code."""

    kind: str  # file, record, enum, other
    start: int = -1  # out index of the placeholder before the current declaration
    commas: int = 0  # declarators before the current one
    nesting: int = 0  # open ( and [ inside the current declaration
    # (placeholder index, scope letter, first declarator or None for all, attribute, value)
    pending: list[tuple[int, str, int | None, str, str]] = field(default_factory=list)
    next_record: list[tuple[str, str]] = field(default_factory=list)  # for `struct attr name {`


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        out.append(_Tok(kind, m.group()))
    return out


def _items(span: list[_Tok]) -> list[tuple[str, str]]:
    """(name without underscores, argument text) of each attribute of `__attribute__((a, b(x)))`."""
    sig = [t.text for t in span if t.kind != "space" and t.kind != "directive"][3:-2]
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(sig):
        name, arg = sig[i].strip("_"), ""
        i += 1
        if i < len(sig) and sig[i] == "(":
            depth, j = 0, i
            while j < len(sig):
                depth += {"(": 1, ")": -1}.get(sig[j], 0)
                if depth == 0:
                    break
                j += 1
            arg = " ".join(sig[i + 1 : j])
            i = j + 1
        out.append((name, arg))
        while i < len(sig) and sig[i] != ",":
            i += 1
        i += 1
    return out


def _attribute_end(toks: list[_Tok], i: int) -> int:
    """Index past the `((...))` that follows the attribute keyword at `i`, or -1."""
    j = i + 1
    while j < len(toks) and not toks[j].significant:
        j += 1
    if j >= len(toks) or toks[j].text != "(":
        return -1
    depth = 0
    while j < len(toks):
        if toks[j].text == "(":
            depth += 1
        elif toks[j].text == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


def _blank(toks: list[_Tok]) -> str:
    """The text's newlines only, so later lines keep their numbers."""
    return "\n" * sum(t.text.count("\n") for t in toks) or " "


class _Rewriter:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.out: list[str] = []
        self.scopes = [_Scope("file")]
        self.prev: list[str] = []  # significant tokens of the current scope, newest last
        self.closed_record = -1  # out index of the `{` of a record body just closed
        # Outer scopes' `prev`, and the out index of each open record's `{`.
        self.saved: list[tuple[list[str], int]] = []
        self.count = 0
        self._placeholder(self.scopes[0])

    def _placeholder(self, scope: _Scope) -> None:
        scope.start = len(self.out)
        self.out.append("")

    def _marker(self, scope: str, first: int, count: int, attr: str, value: str) -> str:
        self.count += 1
        name = f"{PREFIX}{scope}_{first}_{count}_{attr}_{self.count}"
        return f" char {name}[({value})];" if attr == "aligned" else f" char {name};"

    def _flush(self, scope: _Scope) -> None:
        """Write the markers of the declaration that just ended, now its declarators are counted."""
        for at, letter, first, attr, value in scope.pending:
            if first is None:
                self.out[at] += self._marker(letter, 0, scope.commas + 1, attr, value)
            else:
                self.out[at] += self._marker(letter, first, 1, attr, value)
        scope.pending.clear()

    def run(self) -> str:
        toks = self.toks
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "ident" and t.text in _ATTRIBUTE:
                end = _attribute_end(toks, i)
                if end > 0:
                    self._attribute(toks[i:end], toks, end)
                    i = end
                    continue
            self._token(t)
            i += 1
        self._flush(self.scopes[0])
        return "".join(self.out)

    def _token(self, t: _Tok) -> None:
        scope = self.scopes[-1]
        self.out.append(t.text)
        if not t.significant:
            return
        text = t.text
        if text == "{":
            kind = self._brace_kind(scope)
            new = _Scope(kind)
            self.saved.append((self.prev, len(self.out) - 1 if kind == "record" else -1))
            self.scopes.append(new)
            if kind == "record":
                # Record attributes written before the body (`struct attr name {`).
                for attr, value in scope.next_record:
                    self.out[-1] += self._marker("r", 0, 0, attr, value)
                self._placeholder(new)
            scope.next_record.clear()
            self.prev = []
            self.closed_record = -1
            return
        if text == "}" and len(self.scopes) > 1:
            closed = self.scopes.pop()
            self._flush(closed)
            self.prev, brace = self.saved.pop()
            self.prev.append("}")
            self.closed_record = brace if closed.kind == "record" else -1
            outer = self.scopes[-1]
            if outer.kind == "file" and closed.kind == "other" and outer.nesting == 0:
                self._flush(outer)  # a function body ends a file-scope declaration
                outer.commas = 0
                self._placeholder(outer)
            return
        self.closed_record = -1
        self.prev.append(text)
        if text in ("(", "["):
            scope.nesting += 1
        elif text in (")", "]"):
            scope.nesting = max(scope.nesting - 1, 0)
        elif scope.nesting == 0 and text == "," and scope.kind in ("file", "record"):
            scope.commas += 1
        elif scope.nesting == 0 and text == ";":
            self._flush(scope)
            scope.commas = 0
            scope.next_record.clear()
            self.prev = []
            if scope.kind in ("file", "record"):
                self._placeholder(scope)

    def _brace_kind(self, scope: _Scope) -> str:
        if scope.kind in ("other", "enum") or scope.nesting:
            return "other"
        # `struct {`, `struct name {`; attributes between are gone already.
        last = self.prev[-2:]
        if any(t in ("struct", "union") for t in last):
            return "record"
        if "enum" in last:
            return "enum"
        return "other"

    def _attribute(self, span: list[_Tok], toks: list[_Tok], end: int) -> None:
        scope = self.scopes[-1]
        layout = [
            (n, a if n == "aligned" and a else str(BIGGEST_ALIGNMENT) if n == "aligned" else "")
            for n, a in _items(span)
            if n in ("packed", "aligned")
        ]
        self.out.append(_blank(span))
        if not layout or scope.kind in ("other", "enum") or scope.nesting:
            return  # no layout meaning, or inside code, an expression or an enum
        if self.closed_record >= 0 and self.prev and self.prev[-1] == "}":
            for attr, value in layout:  # `struct x { ... } attr`: the record's own
                self.out[self.closed_record] += self._marker("r", 0, 0, attr, value)
            return
        if self.prev and self.prev[-1] in ("struct", "union"):
            scope.next_record += layout
            return
        if self.prev and self.prev[-1] == "enum":
            return  # a packed enum: rare in UAPI headers; gcc's probe has the last word
        # Before a declarator name (in the specifiers): every declarator of the
        # declaration when it is the first; after one: that declarator only.
        j = end
        while j < len(toks) and (
            not toks[j].significant or (toks[j].kind == "ident" and toks[j].text in _ATTRIBUTE)
        ):
            j = _attribute_end(toks, j) if toks[j].text in _ATTRIBUTE else j + 1
            if j < 0:
                break
        before_name = 0 <= j < len(toks) and (toks[j].kind == "ident" or toks[j].text in ("*", "("))
        first = None if before_name and scope.commas == 0 else scope.commas
        letter = "m" if scope.kind == "record" else "t"
        for attr, value in layout:
            scope.pending.append((scope.start, letter, first, attr, value))


def carry_attributes(text: str) -> str:
    """`text` (preprocessed C) with GNU attributes blanked or turned into marker declarations."""
    return _Rewriter(_tokens(text)).run()


def parse_marker(name: str) -> tuple[str, int, int, str] | None:
    """(scope letter, first declarator, declarator count, attribute) of a marker's name."""
    m = MARKER.match(name)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
