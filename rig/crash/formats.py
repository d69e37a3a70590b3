"""The table of kernel report formats: the one source for the console watcher and the parser.

Each row (`ReportFormat`) belongs to a header group: `header` is a literal that
must occur in the first line of a report (syzkaller's `oops.header`), and the
group's rows are tried against the report text to pick the title. A row names
its title pattern (which always starts with the header, so a match can only
begin where the header occurs), an optional full-report pattern, the title
template, alternative titles, how to find the guilty stack frame, the kind, and
whether the guest dies after it (`fatal`). `end` is what ends the report (None:
the report runs until the next report or a quiet console).

Adding a report kind means adding a row here plus a golden file under
tests/testdata/console/, not new code. Patterns, templates and skip lists are
facts learnt from syzkaller's pkg/report/linux.go (Apache-2.0), rewritten for
Python's `re`: every pattern is compiled with re.ASCII, and `{{FUNC}}`,
`{{PC}}`, `{{SRC}}`, `{{ADDR}}` expand as in syzkaller.

Templates use `{N}` for the N-th argument: first the groups captured by the
title pattern (or by the report pattern when there is one), then one guilty
frame per stack section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from rig.crash.kinds import Kind

_EXPANSIONS: Final = (
    ("{{ADDR}}", r"0x[0-9a-f]+"),
    ("{{PC}}", r"\[<?(?:0x)?[0-9a-f]+>?\]"),
    ("{{FUNC}}", r"([a-zA-Z0-9_]+)(?:\.|\+)"),
    ("{{SRC}}", r"([a-zA-Z0-9_/.\-]+\.[a-z]+:[0-9]+)"),
)


def rx(pattern: str) -> re.Pattern[str]:
    """Compile a table pattern: expand the {{...}} shorthands, ASCII classes only."""
    for key, value in _EXPANSIONS:
        pattern = pattern.replace(key, value)
    return re.compile(pattern, re.ASCII)


_META: Final = frozenset(".^$*+?{}[]|()\\")


def literal_prefix(pattern: str) -> str:
    """The text every match of `pattern` starts with ("" when the pattern does not say).

    Conservative: plain characters and escaped punctuation up to the first other
    construct; a quantified last character is dropped; a top-level "|" gives ""."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if not nxt or nxt.isalnum() or not nxt.isascii():
                break  # a class (\d), an anchor (\b), a reference or a code (\n)
            out.append(nxt)
            i += 2
            continue
        if c in _META:
            if c in "*?{" and out:
                out.pop()  # the last character may be absent
            break
        out.append(c)
        i += 1
    return "".join(out) if out and not _top_level_bar(pattern) else ""


def _top_level_bar(pattern: str) -> bool:
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1  # a "]" first in a class is a member
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


# A stack section in `StackSpec.parts`: parse frames from here on.
STACK: Final = re.compile(r"(?!)")

END_TRACE: Final = rx(r"---\[ end (?:trace|Kernel panic)[^\n]*\]---")
END_SANITIZER: Final = rx(r"={40,}")
END_SLUB: Final = rx(r"FIX \S+: ")

RIP_FRAME: Final = rx(
    r"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+"
    r"|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))"
)
CALL_TRACE: Final = rx(r"(?:Call (?:T|t)race:)|(?:Backtrace:)")
# Newer kernels trap on WARN and print RIP first; powerpc prints "--- interrupt:".
WARNING_FRAME: Final = rx(f"(?:{RIP_FRAME.pattern}|--- interrupt: [0-9]+ at {{{{FUNC}}}})")
# Substrings without which a line cannot match these stack parts (a cheap pre-test).
PART_HINTS: Final[dict[re.Pattern[str], tuple[str, ...]]] = {
    RIP_FRAME: ("IP", "pc ", "PC is at"),
    WARNING_FRAME: ("IP", "pc ", "PC is at", "--- interrupt: "),
    CALL_TRACE: ("Call T", "Call t", "Backtrace:"),
}


@dataclass(frozen=True)
class StackSpec:
    """How to find a report's guilty frame: sections matched in order, extra skips."""

    parts: tuple[re.Pattern[str], ...]
    parts2: tuple[re.Pattern[str], ...] = ()  # tried when `parts` finds no frame
    skip: tuple[str, ...] = ()
    extractor: str = "first"  # "first", "stall" or "hang" (see rig.crash.stack)


@dataclass(frozen=True)
class ReportFormat:
    name: str
    header: str
    kind: Kind
    fatal: bool
    title: re.Pattern[str] | None  # None: the group's fallback, titled by the raw line
    template: str = ""
    alt: tuple[str, ...] = ()
    report: re.Pattern[str] | None = None
    stack: StackSpec | None = None
    no_stack_trace: bool = False  # the report has no call trace by nature
    corrupted: bool = False  # matching this row means the report is damaged
    end: re.Pattern[str] | None = END_TRACE
    start: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # Text every match of `title` starts with: a cheap test before running the pattern.
    title_prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", re.compile(re.escape(self.header)))
        prefix = literal_prefix(self.title.pattern) if self.title is not None else ""
        object.__setattr__(self, "title_prefix", prefix)


def _stack(
    *parts: re.Pattern[str],
    skip: tuple[str, ...] = (),
    extractor: str = "first",
    parts2: tuple[re.Pattern[str], ...] = (),
) -> StackSpec:
    return StackSpec(tuple(parts), parts2, skip, extractor)


def _warning_stack(*skip: str) -> StackSpec:
    return StackSpec((WARNING_FRAME, STACK), (CALL_TRACE, STACK), skip)


_RIP_STACK: Final = _stack(RIP_FRAME, CALL_TRACE, STACK)
_CALL_STACK: Final = _stack(CALL_TRACE, STACK)
_SAN_END = END_SANITIZER


def _row(
    name: str,
    header: str,
    kind: Kind,
    fatal: bool,
    title: str | None,
    template: str = "",
    *,
    alt: tuple[str, ...] = (),
    report: str | None = None,
    stack: StackSpec | None = None,
    no_stack_trace: bool = False,
    corrupted: bool = False,
    end: re.Pattern[str] | None = END_TRACE,
) -> ReportFormat:
    return ReportFormat(
        name=name,
        header=header,
        kind=kind,
        fatal=fatal,
        title=rx(title) if title is not None else None,
        template=template,
        alt=alt,
        report=rx(report) if report is not None else None,
        stack=stack,
        no_stack_trace=no_stack_trace,
        corrupted=corrupted,
        end=end,
    )


_KASAN_SKIP = ("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_")
_KMSAN_PARTS = (STACK, rx(r"(Local variable .* created at:|Uninit was created at:)"), STACK)
_PAGING = (
    r"BUG: (?:unable to handle kernel paging request|unable to handle page fault for address"
    r"|Unable to handle kernel data access)"
)
_NULL = (
    r"BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference"
    r"|Kernel NULL pointer dereference)"
)
_SLUB_SKIP = (
    "free_debug_processing",
    "free_consistency_checks",
    "free_to_partial_list",
    "object_err",
    "print_trailer",
    "check_",
    "on_freelist",
    "slab_free",
    "kfree",
    "kmem_cache_free",
)
_LOCKS_HELD_REPORT = r"(?:.*\n)+?.*leaving the kernel with locks still held(?:.*\n)+?.*at: "
_K = Kind

# fmt: off
FORMATS: tuple[ReportFormat, ...] = (
    # --- "BUG:" -------------------------------------------------------------------------
    _row("kasan", "BUG:", _K.KASAN, False, r"BUG: KASAN:", "KASAN: {1} {3} in {4}",
         alt=("bad-access in {4}",),
         report=r"BUG: KASAN: ([a-z\-]+) in {{FUNC}}(?:.*\n)+?.*(Read|Write) (?:of size|at addr) "
                r"(?:[0-9a-f]+)",
         stack=_stack(rx(r"BUG: KASAN: (?:[a-z\-]+) in {{FUNC}}"), CALL_TRACE, STACK,
                      skip=_KASAN_SKIP), end=_SAN_END),
    _row("kasan-invalid-free", "BUG:", _K.KASAN, False, r"BUG: KASAN:",
         "KASAN: invalid-free in {2}", alt=("invalid-free in {2}",),
         report=r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}",
         stack=_stack(rx(r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free)"
                         r" in {{FUNC}}"), CALL_TRACE, STACK,
                      skip=("slab_", "kfree", "vunmap", "vfree")), end=_SAN_END),
    _row("kasan-address", "BUG:", _K.KASAN, False,
         r"BUG: KASAN: ([a-z\-]+) on address(?:.*\n)+?.*(Read|Write) of size ([0-9]+)",
         "KASAN: {1} {2}", end=_SAN_END),
    _row("kasan-other", "BUG:", _K.KASAN, False, r"BUG: KASAN: (.*)", "KASAN: {1}",
         corrupted=True, end=_SAN_END),
    _row("kmsan-usb-infoleak", "BUG:", _K.KMSAN, False, r"BUG: KMSAN: kernel-usb-infoleak",
         "KMSAN: kernel-usb-infoleak in {2}", alt=("KMSAN origin in {3}",),
         report=r"BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}",
         stack=StackSpec(_KMSAN_PARTS, skip=("alloc_skb", "usb_submit_urb", "usb_start_wait_urb",
                                             "usb_bulk_msg", "usb_interrupt_msg",
                                             "usb_control_msg")),
         no_stack_trace=True, end=_SAN_END),
    _row("kmsan", "BUG:", _K.KMSAN, False, r"BUG: KMSAN:", "KMSAN: {1} in {3}",
         alt=("bad-access in {3}",), report=r"BUG: KMSAN: ([a-z\-]+) in {{FUNC}}",
         stack=StackSpec(_KMSAN_PARTS, skip=("alloc_skb", "netlink_ack", "netlink_rcv_skb",
                                             # Generic crypto code is where the bug shows,
                                             # not where it is.
                                             "_encrypt$", "^(?:crypto|cipher|drbg|rng)_")),
         no_stack_trace=True, end=_SAN_END),
    _row("kcsan-data-race", "BUG:", _K.KCSAN, False, r"BUG: KCSAN: data-race", "KCSAN: {1}",
         report=r"BUG: KCSAN: (.*)", no_stack_trace=True, end=_SAN_END),
    _row("kcsan", "BUG:", _K.KCSAN, False, r"BUG: KCSAN:", "KCSAN: {1}",
         report=r"BUG: KCSAN: (.*)", no_stack_trace=True, end=_SAN_END),
    _row("kfence-access", "BUG:", _K.KFENCE, False,
         r"BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}",
         "KFENCE: {1} {2} in {4}", alt=("bad-access in {4}",),
         stack=_stack(rx(r"BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}"), STACK), end=_SAN_END),
    _row("kfence-invalid-free", "BUG:", _K.KFENCE, False, r"BUG: KFENCE: invalid free in {{FUNC}}",
         "KFENCE: invalid free in {2}", alt=("invalid-free in {2}",), no_stack_trace=True,
         stack=_stack(rx(r"BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}"), STACK), end=_SAN_END),
    _row("kfence-invalid-access", "BUG:", _K.KFENCE, False,
         r"BUG: KFENCE: invalid (read|write) in {{FUNC}}", "KFENCE: invalid {1} in {3}",
         alt=("bad-access in {3}",),
         stack=_stack(rx(r"BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}"), STACK), end=_SAN_END),
    _row("kfence-corruption", "BUG:", _K.KFENCE, False,
         r"BUG: KFENCE: memory corruption in {{FUNC}}", "KFENCE: memory corruption in {2}",
         no_stack_trace=True,
         stack=_stack(rx(r"BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}"), STACK), end=_SAN_END),
    _row("paging", "BUG:", _K.PAGE_FAULT, True, _PAGING,
         "BUG: unable to handle kernel paging request in {1}", alt=("bad-access in {1}",),
         stack=_RIP_STACK),
    _row("null-deref", "BUG:", _K.NULL_DEREF, True, _NULL,
         "BUG: unable to handle kernel NULL pointer dereference in {1}",
         alt=("bad-access in {1}",), stack=_RIP_STACK),
    # The kernel prints this header with two printk()s; the second may be lost.
    _row("unable-to-handle", "BUG:", _K.PAGE_FAULT, True,
         r"BUG: (?:unable to handle kernel|Unable to handle kernel)",
         "BUG: unable to handle kernel", corrupted=True),
    _row("spinlock", "BUG:", _K.LOCKDEP, False,
         r"BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion"
         r"|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
         "BUG: {1} {2} in {3}", stack=_stack(CALL_TRACE, STACK,
                                             skip=("spin_", "_lock", "_unlock")), end=None),
    _row("soft-lockup", "BUG:", _K.SOFT_LOCKUP, True, r"BUG: soft lockup",
         "BUG: soft lockup in {1}", alt=("stall in {1}",),
         stack=_stack(RIP_FRAME, CALL_TRACE, STACK, extractor="stall"), end=None),
    _row("locks-held", "BUG:", _K.LOCKDEP, False, r"BUG: .*still has locks held!",
         "BUG: still has locks held in {1}",
         report=r"BUG: .*still has locks held!(?:.*\n)+?.*{{PC}} +{{FUNC}}", end=None),
    _row("sched-atomic", "BUG:", _K.ATOMIC_SLEEP, False, r"BUG: scheduling while atomic",
         "BUG: scheduling while atomic in {1}",
         stack=_stack(CALL_TRACE, STACK, skip=("schedule",)), end=None),
    _row("lock-held-user", "BUG:", _K.LOCKDEP, False,
         r"BUG: lock held when returning to user space",
         "BUG: lock held when returning to user space in {1}",
         report=r"BUG: lock held when returning to user space" + _LOCKS_HELD_REPORT
                + r"(?:{{PC}} +)?{{FUNC}}", no_stack_trace=True, end=None),
    _row("bad-unlock", "BUG:", _K.LOCKDEP, False, r"BUG: bad unlock balance detected!",
         "BUG: bad unlock balance in {1}",
         stack=_stack(rx(r"{{PC}} +{{FUNC}}"), CALL_TRACE, STACK), end=None),
    _row("held-lock-freed", "BUG:", _K.LOCKDEP, False, r"BUG: held lock freed!",
         "BUG: held lock freed in {1}",
         report=r"BUG: held lock freed!(?:.*\n)+?.*{{PC}} +{{FUNC}}", end=None),
    _row("rss-counter", "BUG:", _K.BUG, False, r"BUG: Bad rss-counter state",
         "BUG: Bad rss-counter state", no_stack_trace=True, end=None),
    _row("nr-ptes", "BUG:", _K.BUG, False, r"BUG: non-zero nr_ptes on freeing mm",
         "BUG: non-zero nr_ptes on freeing mm", no_stack_trace=True, end=None),
    _row("nr-pmds", "BUG:", _K.BUG, False, r"BUG: non-zero nr_pmds on freeing mm",
         "BUG: non-zero nr_pmds on freeing mm", no_stack_trace=True, end=None),
    # Block devices (loop0/1/2) and filesystem types in the message only split buckets.
    _row("dentry-in-use", "BUG:", _K.BUG, True, r"BUG: Dentry .* still in use",
         "BUG: Dentry still in use in {1}", alt=("BUG: Dentry still in use [{1} of {2}]",),
         report=r"BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]"),
    _row("bad-page", "BUG:", _K.BAD_PAGE, False, r"BUG: Bad page (state|cache)",
         "BUG: Bad page {1} in {2}",
         stack=_stack(rx(r"page last allocated"), STACK,
                      skip=("(free|put|get|update|release)_page", "free_unref", "^_*folio",
                            "truncate_inode_pages", "page_frag_free", "alloc", "vmap",
                            "page_owner")), end=None),
    _row("bad-page-map", "BUG:", _K.BAD_PAGE, False, r"BUG: Bad page map", "BUG: Bad page map",
         end=None),
    _row("workqueue-lockup", "BUG:", _K.SOFT_LOCKUP, False, r"BUG: workqueue lockup",
         "BUG: workqueue lockup", no_stack_trace=True, end=None),
    _row("sleep-atomic", "BUG:", _K.ATOMIC_SLEEP, False,
         r"BUG: sleeping function called from invalid context at (.*)",
         "BUG: sleeping function called from invalid context in {2}", stack=_CALL_STACK,
         end=None),
    _row("preemptible", "BUG:", _K.ATOMIC_SLEEP, False, r"BUG: using ([a-z_]+)\(\) in preemptible",
         "BUG: using {1}() in preemptible code in {2}",
         stack=_stack(CALL_TRACE, STACK, skip=("dump_stack", "preemption", "preempt", "debug_",
                                               "processor_id", "this_cpu")), end=None),
    _row("workqueue-leak", "BUG:", _K.LOCKDEP, False, r"BUG: workqueue leaked lock or atomic",
         "BUG: workqueue leaked lock or atomic in {1}",
         report=r"BUG: workqueue leaked lock or atomic(?:.*\n)+?.*last function: ([a-zA-Z0-9_]+)\n",
         no_stack_trace=True, end=None),
    _row("memory-leak", "BUG:", _K.MEMORY_LEAK, False, r"BUG: memory leak", "memory leak in {1}",
         stack=_stack(rx(r"backtrace(?: \(crc [0-9a-fA-F]*\))?:"), STACK,
                      skip=("kmemleak", "mmap", "kmem", "slab", "alloc", "create_object",
                            "idr_get", "list_lru_init", "kasprintf", "kvasprintf", "pcpu_create",
                            "strdup", "strndup", "memdup")), end=None),
    _row("stack-guard", "BUG:", _K.STACK_OVERFLOW, True, r"BUG: .*stack guard page was hit at",
         "BUG: stack guard page was hit in {1}", alt=("stack-overflow in {1}",),
         stack=_stack(RIP_FRAME, CALL_TRACE, STACK, extractor="stall")),
    # arm/arm64 spelling of what amd64 reports as a lockdep WARNING; titled alike.
    _row("wait-context", "BUG:", _K.LOCKDEP, False, r"BUG: Invalid wait context",
         "WARNING: locking bug in {1}",
         stack=_stack(CALL_TRACE, STACK, skip=("lock_sock", "release_sock")), end=None),
    _row("bug-corrupted", "BUG:", _K.BUG, False, r"BUG:\s*(?:\n|$)", "BUG: corrupted",
         corrupted=True, end=None),
    _row("bug-other", "BUG:", _K.BUG, False, None, end=None),
    # --- "WARNING:" ---------------------------------------------------------------------
    _row("odebug", "WARNING:", _K.WARNING, False,
         r"WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)",
         "WARNING: ODEBUG bug in {1}",
         stack=_warning_stack("debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_",
                              "vunmap", "vfree", "__free_", "debug_check", "kobject_")),
    _row("usercopy-warning", "WARNING:", _K.BAD_USERCOPY, False,
         r"WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)", "WARNING: bad usercopy in {1}",
         stack=_warning_stack("usercopy", "__check")),
    _row("kobject", "WARNING:", _K.WARNING, False, r"WARNING: .*lib/kobject\.c.* (?:kobject_|at)",
         "WARNING: kobject bug in {1}", stack=_warning_stack("kobject_")),
    _row("proc-register", "WARNING:", _K.WARNING, False,
         r"WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)",
         "WARNING: proc registration bug in {1}", stack=_warning_stack("proc_")),
    _row("refcount", "WARNING:", _K.WARNING, False,
         r"WARNING: .*lib/refcount\.c.* (?:refcount_|at)",
         "WARNING: refcount bug in {1}", stack=_warning_stack("refcount", "kobject_")),
    _row("lockdep-warning", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: .*kernel/locking/lockdep\.c.*lock_", "WARNING: locking bug in {1}",
         stack=_warning_stack("lock_sock", "release_sock")),
    _row("locks-held-warning", "WARNING:", _K.LOCKDEP, False, r"WARNING: .*still has locks held!",
         "WARNING: still has locks held in {1}",
         report=r"WARNING: .*still has locks held!(?:.*\n)+?.*at: {{FUNC}}", end=None),
    _row("nested-lock", "WARNING:", _K.LOCKDEP, False, r"WARNING: Nested lock was not taken",
         "WARNING: nested lock was not taken in {1}", stack=_warning_stack(), end=None),
    _row("lock-held-user-warning", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: lock held when returning to user space",
         "WARNING: lock held when returning to user space in {1}",
         report=r"WARNING: lock held when returning to user space" + _LOCKS_HELD_REPORT
                + r"(?:{{PC}} +)?{{FUNC}}", no_stack_trace=True, end=None),
    _row("kmalloc-warning", "WARNING:", _K.WARNING, False, r"WARNING: .*mm/.*\.c.* k?.?malloc",
         "WARNING: kmalloc bug in {1}",
         stack=_warning_stack("kmalloc", "krealloc", "slab", "kmem")),
    _row("vmalloc-zero", "WARNING:", _K.WARNING, False, r"WARNING: .*mm/vmalloc.c.*__vmalloc_node",
         "WARNING: zero-size vmalloc in {1}", stack=_warning_stack()),
    _row("usb-submit-urb", "WARNING:", _K.WARNING, False, r"WARNING: .* usb_submit_urb",
         "WARNING in {1}/usb_submit_urb",
         stack=_warning_stack("usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg",
                              "usb_interrupt_msg", "usb_control_msg")),
    # The format of kernels since late 2025 ("WARNING: file.c:12 at 0x..., CPU#0: ...").
    _row("warning-src-cpu", "WARNING:", _K.WARNING, False, r"WARNING: {{SRC}} at 0x\d+, CPU#\d+",
         "WARNING in {2}", stack=_warning_stack()),
    _row("warning", "WARNING:", _K.WARNING, False, r"WARNING: .* at {{SRC}} {{FUNC}}",
         "WARNING in {3}", stack=_warning_stack()),
    _row("warning-src", "WARNING:", _K.WARNING, False, r"WARNING: {{SRC}} at {{FUNC}}",
         "WARNING in {3}", stack=_warning_stack()),
    _row("warning-bracket", "WARNING:", _K.WARNING, False, r"WARNING: \[.*\] {{SRC}} at {{FUNC}}.*",
         "WARNING in {3}", stack=_warning_stack()),
    _row("circular-locking", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: possible circular locking dependency detected", "possible deadlock in {1}",
         report=r"WARNING: possible circular locking dependency detected(?:.*\n)+?"
                r".*is trying to acquire lock",
         stack=_stack(rx(r"at: (?:{{PC}} +)?{{FUNC}}"), rx(r"at: (?:{{PC}} +)?{{FUNC}}"), STACK,
                      # Work items' locks: deadlocks here belong to the work-item subsystem.
                      skip=("process_one_work", "flush_workqueue", "drain_workqueue",
                            "destroy_workqueue")), end=None),
    _row("irq-inversion", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: possible irq lock inversion dependency detected", "possible deadlock in {1}",
         report=r"WARNING: possible irq lock inversion dependency detected(?:.*\n)+?"
                r".*just changed the state of lock(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}",
         end=None),
    _row("safe-unsafe", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: .*-safe -> .*-unsafe lock order detected", "possible deadlock in {1}",
         stack=_stack(rx(r"which became (?:.*) at:"), STACK), end=None),
    _row("recursive-locking", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: possible recursive locking detected", "possible deadlock in {1}",
         report=r"WARNING: possible recursive locking detected(?:.*\n)+?"
                r".*is trying to acquire lock(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}", end=None),
    _row("inconsistent-lock", "WARNING:", _K.LOCKDEP, False, r"WARNING: inconsistent lock state",
         "inconsistent lock state in {2}",
         report=r"WARNING: inconsistent lock state(?:.*\n)+?.*takes(?:.*\n)+?"
                r".*at: (?:{{PC}} +)?{{FUNC}}", stack=_CALL_STACK, end=None),
    _row("suspicious-rcu-warning", "WARNING:", _K.LOCKDEP, False, r"WARNING: suspicious RCU usage",
         "WARNING: suspicious RCU usage in {2}",
         report=r"WARNING: suspicious RCU usage(?:.*\n)+?.*?{{SRC}}",
         stack=_stack(CALL_TRACE, STACK, skip=("rcu", "kmem", "slab")), end=None),
    _row("stack-regs-value", "WARNING:", _K.WARNING, False,
         r"WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
         "WARNING: kernel stack regs has bad '{1}' value", no_stack_trace=True, end=None),
    _row("stack-fp-value", "WARNING:", _K.WARNING, False,
         r"WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
         "WARNING: kernel stack frame pointer has bad value", no_stack_trace=True, end=None),
    _row("bad-unlock-warning", "WARNING:", _K.LOCKDEP, False,
         r"WARNING: bad unlock balance detected!", "WARNING: bad unlock balance in {1}",
         stack=_stack(rx(r"{{PC}} +{{FUNC}}"), CALL_TRACE, STACK), end=None),
    _row("held-lock-freed-warning", "WARNING:", _K.LOCKDEP, False, r"WARNING: held lock freed!",
         "WARNING: held lock freed in {1}",
         report=r"WARNING: held lock freed!(?:.*\n)+?.*at:(?: {{PC}})? +{{FUNC}}", end=None),
    _row("stack-regs-bp", "WARNING:", _K.WARNING, False,
         r"WARNING: kernel stack regs .* has bad 'bp' value",
         "WARNING: kernel stack regs has bad value", no_stack_trace=True, end=None),
    _row("stack-fp", "WARNING:", _K.WARNING, False,
         r"WARNING: kernel stack frame pointer .* has bad value",
         "WARNING: kernel stack regs has bad value", no_stack_trace=True, end=None),
    _row("warning-corrupted", "WARNING:", _K.WARNING, False, r"WARNING:\s*(?:\n|$)",
         "WARNING: corrupted", corrupted=True, end=None),
    _row("warning-other", "WARNING:", _K.WARNING, False, None, end=None),
    # --- "INFO:" ------------------------------------------------------------------------
    _row("info-circular", "INFO:", _K.LOCKDEP, False,
         r"INFO: possible circular locking dependency detected", "possible deadlock in {1}",
         report=r"INFO: possible circular locking dependency detected \](?:.*\n)+?"
                r".*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}", end=None),
    _row("info-irq-inversion", "INFO:", _K.LOCKDEP, False,
         r"INFO: possible irq lock inversion dependency detected", "possible deadlock in {1}",
         report=r"INFO: possible irq lock inversion dependency detected \](?:.*\n)+?"
                r".*just changed the state of lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}", end=None),
    _row("info-softirq-unsafe", "INFO:", _K.LOCKDEP, False,
         r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "possible deadlock in {1}",
         report=r"INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \](?:.*\n)+?"
                r".*is trying to acquire(?:.*\n)+?.*at: {{PC}} +{{FUNC}}", end=None),
    _row("info-recursive", "INFO:", _K.LOCKDEP, False, r"INFO: possible recursive locking detected",
         "possible deadlock in {1}",
         report=r"INFO: possible recursive locking detected \](?:.*\n)+?"
                r".*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}", end=None),
    _row("info-inconsistent", "INFO:", _K.LOCKDEP, False, r"INFO: inconsistent lock state",
         "inconsistent lock state in {1}",
         report=r"INFO: inconsistent lock state \](?:.*\n)+?.*takes(?:.*\n)+?"
                r".*at: {{PC}} +{{FUNC}}", end=None),
    _row("rcu-stall", "INFO:", _K.RCU_STALL, True,
         r"INFO: rcu_(?:preempt|sched|bh|tasks(?:_trace|_rude)?) (?:self-)?detected"
         r"(?: expedited)? stall",
         "INFO: rcu detected stall in {1}", alt=("stall in {1}",),
         stack=_stack(rx(r"apic_timer_interrupt"), RIP_FRAME, STACK,
                      parts2=(rx(r"(?:apic_timer_interrupt|Exception stack|el1h_64_irq)"), STACK),
                      skip=("apic_timer_interrupt", "rcu"), extractor="stall"), end=None),
    _row("non-static-key", "INFO:", _K.LOCKDEP, False, r"INFO: trying to register non-static key",
         "INFO: trying to register non-static key in {1}",
         stack=_stack(CALL_TRACE, STACK, skip=("stack", "lock", "IRQ")), end=None),
    _row("suspicious-rcu", "INFO:", _K.LOCKDEP, False, r"INFO: suspicious RCU usage",
         "INFO: suspicious RCU usage in {2}",
         report=r"INFO: suspicious RCU usage(?:.*\n)+?.*?{{SRC}}",
         stack=_stack(CALL_TRACE, STACK, skip=("rcu", "kmem", "slab")), end=None),
    _row("hung-task", "INFO:", _K.HUNG_TASK, True,
         r"INFO: task .* blocked (?:in I/O wait )?for more than [0-9]+ seconds",
         "INFO: task hung in {1}", alt=("hang in {1}",),
         stack=_stack(CALL_TRACE, STACK, extractor="hang"), end=None),
    _row("task-cant-die", "INFO:", _K.HUNG_TASK, True,
         r"INFO: task .* can't die for more than .* seconds", "INFO: task can't die in {1}",
         alt=("hang in {1}",), stack=_stack(CALL_TRACE, STACK, skip=("schedule",)), end=None),
    # Old-style KASAN reports that lost their header.
    _row("info-freed-allocated", "INFO:", _K.KASAN, False, r"INFO: (Freed|Allocated) in (.*)",
         "INFO: {1} in {2}", corrupted=True, end=None),
    _row("info-corrupted", "INFO:", _K.BUG, False, r"INFO:\s*(?:\n|$)", "INFO: corrupted",
         corrupted=True, end=None),
    _row("info-other", "INFO:", _K.BUG, False, None, end=None),
    # --- other headers ------------------------------------------------------------------
    _row("arm-unable-to-handle", "Unable to handle kernel", _K.PAGE_FAULT, True,
         r"Unable to handle kernel (paging request|NULL pointer dereference"
         r"|access to user memory)",
         "BUG: unable to handle kernel {1} in {2}", alt=("bad-access in {2}",), stack=_RIP_STACK),
    _row("arm-unable-to-handle-other", "Unable to handle kernel", _K.PAGE_FAULT, True, None),
    _row("gpf", "general protection fault", _K.GPF, True, r"general protection fault.*:",
         "general protection fault in {1}", alt=("bad-access in {1}",), stack=_RIP_STACK),
    _row("gpf-other", "general protection fault", _K.GPF, True, None),
    _row("stack-segment", "stack segment: ", _K.GPF, True, r"stack segment: ",
         "stack segment fault in {1}", stack=_RIP_STACK),
    # A stack overflow may leave no symbol and no unwindable stack.
    _row("stack-protector", "Kernel panic", _K.STACK_PROTECTOR, True,
         r"Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {1}",
         report=r"Kernel panic - not syncing: stack-protector: "
                r"Kernel stack is corrupted in: {{FUNC}}", no_stack_trace=True),
    _row("stack-protector-addr", "Kernel panic", _K.STACK_PROTECTOR, True,
         r"Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in {1}",
         report=r"Kernel panic - not syncing: stack-protector: "
                r"Kernel stack is corrupted in: [a-f0-9]+",
         stack=_stack(CALL_TRACE, STACK, skip=("stack_chk",))),
    _row("stack-end", "Kernel panic", _K.STACK_OVERFLOW, True,
         r"Kernel panic - not syncing: corrupted stack end",
         "kernel panic: corrupted stack end in {1}",
         alt=("stack-overflow in {1}",),
         report=r"Kernel panic - not syncing: corrupted stack end detected inside scheduler",
         stack=_stack(CALL_TRACE, STACK, skip=("schedule", "retint_kernel"), extractor="stall")),
    _row("stack-overflow", "Kernel panic", _K.STACK_OVERFLOW, True,
         r"Kernel panic - not syncing: kernel stack overflow", "kernel stack overflow in {1}",
         alt=("stack-overflow in {1}",),
         stack=_stack(CALL_TRACE, STACK, skip=("bad_stack",), extractor="stall")),
    _row("kill-init", "Kernel panic", _K.PANIC, True,
         r"Kernel panic - not syncing: Attempted to kill init!",
         "kernel panic: Attempted to kill init!"),
    _row("n-tty", "Kernel panic", _K.PANIC, True,
         r"Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+",
         "kernel panic: Couldn't open N_TTY ldisc"),
    # These panics follow another report; seen first, the real header was lost.
    _row("fatal-exception", "Kernel panic", _K.PANIC, True,
         r"Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception",
         corrupted=True),
    _row("panic-on-warn", "Kernel panic", _K.PANIC, True,
         r"Kernel panic - not syncing: panic_on_warn set", "kernel panic: panic_on_warn set",
         corrupted=True),
    _row("panic-hung-task", "Kernel panic", _K.PANIC, True,
         r"Kernel panic - not syncing: hung_task: blocked tasks",
         "kernel panic: hung_task: blocked tasks", corrupted=True),
    _row("panic", "Kernel panic", _K.PANIC, True, r"Kernel panic - not syncing: (.*)",
         "kernel panic: {1}"),
    _row("panic-other", "Kernel panic", _K.PANIC, True, None),
    _row("double-fault", "PANIC: double fault", _K.DOUBLE_FAULT, True, r"PANIC: double fault",
         "PANIC: double fault in {1}", stack=_stack(RIP_FRAME)),
    _row("rust-panic", "rust_kernel: panicked", _K.PANIC, True, r"rust_kernel: panicked",
         "{1} in {2}", report=r"rust_kernel: panicked at [^\n]*?\n(.+?)\n",
         stack=_stack(CALL_TRACE, STACK, skip=(re.escape("__rustc::rust_begin_unwind"),))),
    _row("rust-panic-other", "rust_kernel: panicked", _K.PANIC, True, None),
    _row("usercopy", "kernel BUG", _K.BAD_USERCOPY, True, r"kernel BUG at mm/usercopy.c",
         "BUG: bad usercopy in {1}", stack=_stack(CALL_TRACE, STACK, skip=("usercopy", "__check"))),
    _row("list-corruption", "kernel BUG", _K.LIST_CORRUPTION, True,
         r"kernel BUG at lib/list_debug.c", "BUG: corrupted list in {1}",
         alt=("bad-access in {1}",), stack=_CALL_STACK),
    # Many skb helpers BUG_ON() their arguments; the bug is in the caller.
    _row("kernel-bug", "kernel BUG", _K.BUG_ON, True, r"kernel BUG at (.*)", "kernel BUG in {2}",
         stack=_stack(RIP_FRAME, CALL_TRACE, STACK, skip=("^skb_",))),
    _row("kernel-bug-other", "kernel BUG", _K.BUG_ON, True, None),
    _row("kernel-bug-ppc", "Kernel BUG", _K.BUG_ON, True, r"Kernel BUG (.*)", "kernel BUG {1}"),
    # syzkaller's title has no frame; the stack still names the guilty frame.
    _row("slub-double-free", "BUG kmalloc-", _K.SLUB, False,
         r"BUG kmalloc-.*: Object already free", "BUG: Object already free",
         stack=_stack(CALL_TRACE, STACK, skip=_SLUB_SKIP), end=END_SLUB),
    _row("slub", "BUG kmalloc-", _K.SLUB, False, None, end=END_SLUB),
    _row("divide-error", "divide error:", _K.DIVIDE_ERROR, True, r"divide error: ",
         "divide error in {1}", stack=_stack(RIP_FRAME)),
    # A misspelling of the above from 9d06c4027f21 ("x86/entry: Convert Divide Error...").
    _row("divide-error-underscore", "divide_error:", _K.DIVIDE_ERROR, True, r"divide_error: ",
         "divide error in {1}", stack=_stack(RIP_FRAME)),
    _row("invalid-opcode", "invalid opcode:", _K.INVALID_OPCODE, True, r"invalid opcode: ",
         "invalid opcode in {1}", stack=_stack(RIP_FRAME)),
    _row("ubsan-old", "UBSAN:", _K.UBSAN, False, r"UBSAN:", "UBSAN: undefined-behaviour in {1}",
         report=r"UBSAN: Undefined behaviour in",
         stack=_stack(CALL_TRACE, STACK, skip=("ubsan", "overflow")), end=_SAN_END),
    _row("ubsan-array-index", "UBSAN:", _K.UBSAN, False, r"UBSAN: array-index-out-of-bounds in",
         "UBSAN: array-index-out-of-bounds in {1}", alt=("bad-access in {1}",),
         stack=_stack(CALL_TRACE, STACK, skip=("ubsan", "overflow")), end=_SAN_END),
    _row("ubsan", "UBSAN:", _K.UBSAN, False, r"UBSAN:", "UBSAN: {1} in {2}",
         report=r"UBSAN: (.*?) in", stack=_stack(CALL_TRACE, STACK, skip=("ubsan", "overflow")),
         end=_SAN_END),
    _row("ubsan-other", "UBSAN:", _K.UBSAN, False, None, end=_SAN_END),
    _row("reboot", "Booting the kernel.", _K.REBOOT, True, r"^Booting the kernel",
         "unexpected kernel reboot", no_stack_trace=True, end=None),
    _row("reboot-other", "Booting the kernel.", _K.REBOOT, True, None, end=None),
    _row("netdev-refcount", "unregister_netdevice: waiting for", _K.HUNG_TASK, False,
         r"unregister_netdevice: waiting for (?:.*) to become free",
         "unregister_netdevice: waiting for DEV to become free", no_stack_trace=True, end=None),
    _row("netdev-refcount-other", "unregister_netdevice: waiting for", _K.HUNG_TASK, False, None,
         end=None),
    _row("vfs-file-count", "VFS: Close: file count is 0", _K.BUG, False,
         r"VFS: Close: file count is 0", "VFS: Close: file count is zero (use-after-free)",
         no_stack_trace=True, end=None),
    _row("vfs-busy-inodes", "VFS: Busy inodes after unmount", _K.BUG, False,
         r"VFS: Busy inodes after unmount", "VFS: Busy inodes after unmount (use-after-free)",
         no_stack_trace=True, end=None),
    # arm64 reports some faults as "Internal error: synchronous external abort" which arm
    # reports as "Unable to handle kernel paging request": the alt title merges them.
    _row("internal-error", "Internal error:", _K.ARCH_FAULT, True, r"Internal error:",
         "Internal error in {1}", alt=("bad-access in {1}",), stack=_RIP_STACK),
    _row("unhandled-fault", "Unhandled fault:", _K.ARCH_FAULT, True, r"Unhandled fault:",
         "Unhandled fault in {1}", alt=("bad-access in {1}",), stack=_RIP_STACK),
    _row("alignment-trap", "Alignment trap:", _K.ARCH_FAULT, True, r"Alignment trap:",
         "Alignment trap in {1}", stack=_RIP_STACK),
    _row("trusty-assert", "trusty: panic", _K.PANIC, True, r"trusty: panic.* ASSERT FAILED",
         "trusty: ASSERT FAILED: {1}",
         report=r"trusty: panic \(.*?\):(?: DEBUG)? ASSERT FAILED at \(.*?\): (.+)",
         no_stack_trace=True, end=None),
    _row("trusty-assert-corrupted", "trusty: panic", _K.PANIC, True,
         r"trusty: panic.* ASSERT FAILED.*: *(.*)", "trusty: ASSERT FAILED: {1}", corrupted=True,
         end=None),
    _row("trusty-panic", "trusty: panic", _K.PANIC, True, r"trusty: panic", "trusty: panic: {1}",
         report=r"trusty: panic \(.*?\): (.+)", no_stack_trace=True, end=None),
    _row("trusty-other", "trusty: panic", _K.PANIC, True, None, end=None),
    _row("go-runtime", "fatal error:", _K.PANIC, True, r"fatal error:", "go runtime error",
         no_stack_trace=True, end=None),
    # Reports of syzkaller's own executor, kept so logs from syzkaller runs score alike.
    _row("syzfail", "SYZFAIL:", _K.BUG, False, r"SYZFAIL:(.*)", "SYZFAIL:{1}",
         no_stack_trace=True, end=None),
    _row("syzfatal", "SYZFATAL:", _K.BUG, False, r"SYZFATAL:(.*)()", "SYZFATAL:{1}",
         alt=("SYZFATAL{2}",), no_stack_trace=True, end=None),
    _row("stuck-task", "panic:", _K.PANIC, True, r"panic: Sentry detected .* stuck task",
         "panic: Sentry detected stuck tasks", no_stack_trace=True, end=None),
    _row("go-panic", "panic:", _K.PANIC, True, r"panic:(.*)", "panic:{1}", no_stack_trace=True,
         end=None),
)
# fmt: on

# Lines that contain a group's header but are not reports (syzkaller's per-oops suppressions).
HEADER_IGNORES: dict[str, tuple[re.Pattern[str], ...]] = {
    header: tuple(rx(p) for p in patterns)
    for header, patterns in {
        "BUG:": (
            r"ODEBUG:",  # CONFIG_DEBUG_OBJECTS output
            r"Boot_DEBUG:",
            r"xlog_status:",
            r"DEBUG:",
            r"BUG: no syscalls can create resource",
        ),
        "WARNING:": (
            r"WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
            r"WARNING: workqueue cpumask: online intersect > possible intersect",
            r"WARNING: [Tt]he mand mount option",
            r"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1",
            r"WARNING: Unprivileged eBPF is enabled with eIBRS",
            r"WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size "
            r"(\((?:\d+)x(?:\d+) vs\. (?:\d+)x(?:\d+)\))",
            r"WARNING: See https.* for mitigation options.",
            r"WARNING: kernel not compiled with CPU_SRSO",
            r"EXT4-[Ff][Ss](?: \(.*\))?:",
            r"(?i:warning: .* uses (deprecated v2 capabilities|wireless extensions))",
            r"XFS \(\w+\): WARNING",
        ),
        "INFO:": (
            r"INFO: lockdep is turned off",
            r"INFO: Stall ended before state dump start",
            r"INFO: NMI handler",
            r"INFO: recovery required on readonly filesystem",
            r"(handler|interrupt).*took too long",
            r"INFO: sys_.* is not present in /proc/kallsyms",
            r"INFO: no syscalls can create resource",
            r"rmt_storage:INFO:",
            r"_INFO:",
        ),
        "general protection fault": (r"general protection fault .* error:\d+ in ",),
        "Booting the kernel.": (r"Parsing ELF|Decompressing Linux|Unknown parameter '",),
        "fatal error:": (r"ALSA", r"fatal error: cannot create timer"),
        "panic:": (r"_panic:", r"xlog_status:", r"ddb\.onpanic:", r"evtlog_status:"),
    }.items()
}

# Headers in the order a line is tested against them; the first that applies wins.
HEADERS: tuple[str, ...] = tuple(dict.fromkeys(f.header for f in FORMATS))
GROUPS: dict[str, tuple[ReportFormat, ...]] = {
    h: tuple(f for f in FORMATS if f.header == h) for h in HEADERS
}
BY_NAME: dict[str, ReportFormat] = {f.name: f for f in FORMATS}

# Report starts that may appear inside another report without starting a new one.
CONTINUATIONS: tuple[re.Pattern[str], ...] = tuple(
    rx(p)
    for p in (
        r"invalid opcode: 0000",
        r"Kernel panic - not syncing",
        r"unregister_netdevice: waiting for",
        # A double fault can come from handling a page fault in the same report.
        r"PANIC: double fault",
        r"Internal error:",
    )
)
# Messages that are not bugs but print a stack: inside a report they mean intermixed text.
INFO_WITH_STACK: tuple[str, ...] = (
    "vmalloc: allocation failure:",
    "FAULT_INJECTION: forcing a failure",
    "FAULT_FLAG_ALLOW_RETRY missing",
)


def _start_pattern() -> re.Pattern[str]:
    # One alternative per header: the header somewhere in the line, and no ignore pattern
    # anywhere in it. Equivalent to `classify(line) is not None` for a single line.
    alts = []
    for header in HEADERS:
        ignores = HEADER_IGNORES.get(header, ())
        guard = f"(?![^\n]*(?:{'|'.join(p.pattern for p in ignores)}))" if ignores else ""
        alts.append(f"{guard}[^\n]*?{re.escape(header)}")
    return re.compile("^(?:" + "|".join(alts) + ")", re.MULTILINE | re.ASCII)


START_RE: re.Pattern[str] = _start_pattern()


# Each header's ignore patterns as one: a line matches it iff it matches one of them.
_IGNORED: dict[str, re.Pattern[str]] = {
    header: re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.ASCII)
    for header, patterns in HEADER_IGNORES.items()
    if patterns
}


def header_of(line: str) -> str | None:
    """The header group that `line` opens a report of, or None."""
    for header in HEADERS:
        if header in line:
            ignored = _IGNORED.get(header)
            if ignored is None or ignored.search(line) is None:
                return header
    return None


def classify(line: str) -> ReportFormat | None:
    """The format of the report that `line` (one line of console text) starts, or None.

    The row is the first of the header's group whose title pattern (and single-line
    report pattern) matches the line at the earliest header position; when none does,
    the group's fallback row.
    """
    header = header_of(line)
    if header is None:
        return None
    pos = line.find(header)
    while pos != -1:
        for f in GROUPS[header]:
            if (
                f.title is not None
                and line.startswith(f.title_prefix, pos)
                and f.title.match(line, pos)
                and _may_report(f, line, pos)
            ):
                return f
        pos = line.find(header, pos + 1)
    return fallback(header)


def _may_report(f: ReportFormat, line: str, pos: int) -> bool:
    # A report pattern that spans lines cannot be decided on the first line alone.
    return f.report is None or r"\n" in f.report.pattern or f.report.match(line, pos) is not None


def fallback(header: str) -> ReportFormat:
    """The row for a report of `header`'s group that no title pattern describes."""
    rows = GROUPS[header]
    return next((f for f in rows if f.title is None), rows[0])
