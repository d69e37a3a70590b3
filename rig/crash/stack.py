"""Stack frames in kernel reports: frame lines, skip lists and the guilty frame.

The guilty frame is the first frame of a stack section that is not generic kernel
plumbing (allocators, locking, printing, sanitizer runtime, ...). The skip lists
and anchors are facts learnt from syzkaller's pkg/report (Apache-2.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import islice
from typing import Final

from rig.crash.formats import PART_HINTS, STACK, StackSpec, literal_prefix, rx
from rig.crash.rustsym import demangle

# Lines that start a stack section (and so end the one before).
STACK_START: Final[tuple[re.Pattern[str], ...]] = (
    rx(r"Call (?:T|t)race"),
    rx(r"Allocated:"),
    rx(r"Allocated by task [0-9]+:"),
    rx(r"Freed:"),
    rx(r"Freed by task [0-9]+:"),
    # "backtrace:" but not "stack backtrace:"; kmemleak adds a crc.
    rx(r"[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:"),
    rx(r"Backtrace:"),
    rx(r"Uninit was stored to memory at"),
)
# riscv's show_regs() prints no stack header; this is its last line before the frames.
RISCV_STACK_START: Final[re.Pattern[str]] = rx(
    r"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}"
)
_STACK_START_ANY: Final = re.compile(
    "|".join(p.pattern for p in (*STACK_START, RISCV_STACK_START)), re.ASCII
)
# Every stack start holds one of these (a cheap test before the patterns).
_STACK_START_HINTS: Final = ("Call ", "Allocated", "Freed", "ktrace", "Uninit", "badaddr")

FRAME_LINES: Final = (
    rx(r"^ *(?:{{PC}} ){0,2}{{FUNC}}"),
    # arm prints "(func) from (caller)": take both, as the top frame is only in LR.
    rx(r"^ *{{PC}} \(([a-zA-Z0-9_.]+)\) from {{PC}} \({{FUNC}}"),
)
# Fault injection stacks get mixed into reports; seeing one means the report is intermixed.
_INTERMIXED: Final = rx(r"^( \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(slab)?(\.[a-z0-9.]+)?\+0x")

# fmt: off
SKIP: Final[tuple[str, ...]] = (
    "__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
    "check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
    "(read|write)_once_.*nocheck", "print_address_description", "panic", "invalid_op",
    "report_bug", "fixup_bug", "print_report", "print_usage_bug", "do_error", "_trap$|do_trap",
    "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "warn_slowpath", "warn_alloc",
    "warn_bogus", "__warn", "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache",
    "allocate_slab", "__alloc_frozen_pages_noprof", "folio_(?:alloc|unlock)",
    "filemap_alloc_folio", "__filemap_get_folio", "find_or_create_page", "do_read_cache_folio",
    "read_cache_page", "pagecache_get_page", "grab_cache_page_write_begin", "slab_",
    "debug_object", "timer_is_static_object", "work_is_static_object", "__might_fault",
    "print_unlock", "imbalance_bug", "lockdep", "bh_enable", "bh_disable", "perf_trace",
    "lock_acquire", "lock_release", "lock_class", "mark_lock", "(reacquire|mark)_held_locks",
    "raw_spin_rq", "spin_lock", "spin_trylock", "spin_unlock", "read_lock", "read_trylock",
    "write_lock", "write_trylock", "read_unlock", "write_unlock", "^down$", "down_read",
    "down_write", "down_read_trylock", "down_write_trylock", "down_trylock", "up_read",
    "up_write", "^mutex_", "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
    "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
    "(set|clear|change|test)_bit", "__wake_up", "^refcount_", "^kref_", "ref_tracker",
    "seqprop_assert", "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp",
    "strncmp", "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr",
    "strnlen", "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user", "copy_to_iter",
    "copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "copy_folio_to_iter",
    "^copyin$", "^copyout$", "put_user", "get_user", "might_fault", "might_sleep", "list_add",
    "list_del", "list_replace", "list_move", "list_splice", "^rb_", "^__rb_",
    "_indirect_thunk_",  # retpolines
    "string", "pointer", "snprintf", "scnprintf", "kasprintf", "kvasprintf", "printk",
    "va_format", "dev_info", "dev_notice", "dev_warn", "dev_err", "dev_alert", "dev_crit",
    "dev_emerg", "program_check_exception", "program_check_common", "del_timer", "flush_work",
    "__cancel_work_timer", "cancel_work_sync", "try_to_grab_pending", "flush_workqueue",
    "drain_workqueue", "destroy_workqueue", "queue_work", "finish_wait", "kthread_stop",
    "kobject_", "add_uevent_var", "get_device_parent", "device_add", "device_del",
    "device_unregister", "device_destroy", "device_release", "devres_release_all",
    "hwrng_unregister", "i2c_del_adapter", "__unregister_client", "device_for_each_child",
    "rollback_registered", "unregister_netdev", "sysfs_remove", "device_remove_file",
    "tty_unregister_device", "dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs",
    "usb_control_msg", "usb_hcd_submit_urb", "usb_submit_urb", "^complete$",
    "wait_for_completion", "^kv?free$", "kfree_skb", "readb$", "readw$", "readl$", "readq$",
    "writeb$", "writew$", "writel$", "writeq$", "logic_in", "logic_out", "^crc\\d+",
    "crc_itu_t", "__might_resched", "assertfail", "^iput$", "^iput_final$", "^ihold$",
    "hex_dump_to_buffer", "print_hex_dump", "^klist_", "(trace|lockdep)_(hard|soft)irq",
    "^(un)?lock_page", "stack_trace_consume_entry", "arch_stack_walk", "stack_trace_save",
    "insert_work", "__queue_delayed_work", "queue_delayed_work_on", "ida_free",
    # arm64 translation fault handling.
    "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?",
    "print_tainted", "xas_(?:start|load|find)", "find_lock_entries", "truncate_inode_pages_range",
    "__phys_addr", "__fortify_report", "cleanup_srcu_struct", "rhashtable_lookup",
    "extract_(user|iter)_to_sg", "drop_nlink", "^get_taint$", "^put_device$", "lock_timer_base",
    "__timer_delete_sync", "sk_stop_timer_sync", "__mod_timer", "fast_dput", "dput",
)
# Syscall wrappers differ by arch; the shortest stripped name is the canonical frame.
STRIP_PREFIXES: Final[tuple[str, ...]] = (
    "SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_", "__sys_",
    "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_",
)

# Generic dispatchers: in a stall, the frame above the first of these is the culprit.
_STALL_ANCHORS: Final = re.compile("|".join((
    "process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch",
    "tracesys_phase2", "el0_svc_handler", "invoke_syscall", "ret_fast_syscall",
    "netif_receive_skb", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq",
    "hrtimer_run", "run_ksoftirqd", "smpboot_thread_fn", "^kthread$", "start_secondary",
    "cpu_startup_entry", "ret_from_fork", "vfs_write", "vfs_read", "vfs_iter_read",
    "vfs_iter_write", "do_iter_read", "do_iter_write", "call_read_iter", "call_write_iter",
    "new_sync_read", "new_sync_write", "vfs_ioctl", "ksys_ioctl", "compat_ioctl",
    "compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl", "^call_read_iter",
    "^call_write_iter", "do_iter_readv_writev", "^call_mmap", "mmap_region", "do_mmap",
    "do_dentry_open", "vfs_open", "^sock_sendmsg", "^sock_recvmsg", "^sock_release",
    "^__sock_release", "^setsockopt$", "kernel_setsockopt", "sock_common_setsockopt",
    "^listen$", "kernel_listen", "sk_common_release", "^sock_mmap", "^accept$",
    "kernel_accept", "^sock_do_ioctl", "^sock_ioctl", "^compat_sock_ioctl",
    "^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg", "^netlink_dump",
    "^(sys_)?(socketpair|connect|ioctl)", "__do_fault", "do_page_fault", "^page_fault$",
    "__fput", "task_work_run", "exit_to_usermode", "smp_call_function", "tasklet_action",
    "tasklet_hi_action",
)), re.ASCII)
_HANG_ANCHORS: Final = (
    ("rtnl_lock", ""), ("synchronize_rcu", "synchronize_rcu"),
    ("synchronize_srcu", "synchronize_rcu"), ("synchronize_net", "synchronize_rcu"),
    ("synchronize_sched", "synchronize_rcu"),
)
_HANG_SKIP: Final = (
    "sched", "_lock", "_slowlock", "down", "rwsem", "completion", "kthread", "wait",
    "synchronize", "context_switch", "__switch_to", "cancel_delayed_work", "rcu_barrier",
)
# fmt: on

# "name+0xoff/0xsize [module]" as printed in a frame; the name keeps compiler suffixes.
SYMBOL: Final = re.compile(
    r"(?P<name>[A-Za-z0-9_.$]+)\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)"
    r"(?: \[(?P<module>[A-Za-z0-9_.\-]+)(?: [^\]]*)?\])?",
    re.ASCII,
)
_SUFFIX: Final = re.compile(
    r"\.(?:cold|constprop|isra|part|lto_priv|llvm|localalias)(?:\.\d+)*"
    r"(?=\.|$)|\.\d+$",
    re.ASCII,
)


@dataclass(frozen=True)
class Frame:
    """One stack frame: the function (compiler suffixes stripped) and where it was."""

    function: str
    raw: str = ""  # the symbol as printed, e.g. "foo.constprop.0"
    offset: int | None = None
    size: int | None = None
    module: str | None = None  # set when the frame is in a loadable module

    def __str__(self) -> str:
        where = f"+{self.offset:#x}/{self.size:#x}" if self.offset is not None and self.size else ""
        mod = f" [{self.module}]" if self.module else ""
        return f"{self.function}{where}{mod}"


def strip_suffixes(name: str) -> str:
    """`foo.constprop.0.isra.1` -> `foo`: compiler clones are the same function."""
    if "." not in name:
        return name  # every suffix starts with a dot
    while True:
        stripped = _SUFFIX.sub("", name)
        if stripped == name:
            return name
        name = stripped


def _frame(raw: str, m: re.Match[str]) -> Frame:
    function = demangle(strip_suffixes(raw))
    return Frame(function, raw, int(m["off"], 16), int(m["size"], 16), m["module"])


def frame_from_line(line: str, name: str = "") -> Frame | None:
    """The frame printed on `line` (the one named `name`, when given)."""
    for m in SYMBOL.finditer(line):
        raw = m["name"]
        if name and strip_suffixes(raw) != name and raw != name:
            continue
        return _frame(raw, m)
    if name:
        return Frame(name, name)
    return None


@dataclass(frozen=True)
class KeyFrame:
    """The guilty frame of one stack section: canonical name, as printed, and its line."""

    canonical: str
    raw: str
    line: str


CORRUPTED_FRAME: Final = KeyFrame("corrupted", "corrupted", "")


def canonical_name(name: str) -> str:
    """Strip the arch-specific syscall prefix (the shortest result wins); Rust names
    demangled."""
    if not name.startswith(STRIP_PREFIXES):
        return demangle(name) if name.startswith("_R") else name
    best = name
    for prefix in STRIP_PREFIXES:
        if name.startswith(prefix) and len(name) - len(prefix) < len(best):
            best = name[len(prefix) :]
    return best


def _stall_frame(frames: Sequence[str]) -> tuple[str, int]:
    # A stall loops across functions; the frame above the generic dispatcher is stable.
    # smp_call_function itself is kept, as its callers vary.
    prev, prev_idx = frames[0], 0
    for i, frame in enumerate(frames):
        if _is_stall_anchor(frame):
            if "smp_call_function" in frame:
                return "smp_call_function", i
            return prev, prev_idx
        prev, prev_idx = frame, i
    return "", -1


@lru_cache(maxsize=8192)
def _is_stall_anchor(name: str) -> bool:
    # A large alternation, slow to run, on frame names that repeat a lot: memoised.
    return _STALL_ANCHORS.search(name) is not None


def _hang_frame(frames: Sequence[str]) -> tuple[str, int]:
    # Hung tasks show a victim's stack; group the common root causes first.
    for i, frame in enumerate(frames):
        for anchor, replacement in _HANG_ANCHORS:
            if anchor in frame:
                return (replacement or frame), i
    for i, frame in enumerate(frames):
        if not any(s in frame for s in _HANG_SKIP):
            return frame, i
    return "", -1


def pick_frame(extractor: str, raw: Sequence[tuple[str, str]]) -> KeyFrame | None:
    """The key frame among `raw` (name, line) frames of one section, by `extractor`."""
    if not raw:
        return None
    if extractor == "first":
        return KeyFrame(canonical_name(raw[0][0]), raw[0][0], raw[0][1])
    names = [canonical_name(n) for n, _ in raw]
    frame, idx = _stall_frame(names) if extractor == "stall" else _hang_frame(names)
    if not frame:
        return None
    return KeyFrame(frame, raw[idx][0], raw[idx][1])


class Skipper:
    """Whether a frame is plumbing: the common skip list plus a format's own.

    The common list is one large alternation, slow to run on every frame, and frame
    names repeat a lot, so answers are memoised (bounded).
    """

    def __init__(self, extra: tuple[str, ...]) -> None:
        self._extra = re.compile("|".join(extra), re.ASCII) if extra else None
        self._memo: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        got = self._memo.get(name)
        if got is None:
            plain = demangle(name)
            got = _skipped_commonly(plain) or (
                self._extra is not None and self._extra.search(plain) is not None
            )
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[name] = got
        return got


_MEMO_MAX: Final = 8192


@lru_cache(maxsize=8192)
def _skipped_commonly(name: str) -> bool:
    return _common_skip().search(name) is not None


@cache
def _common_skip() -> re.Pattern[str]:
    return re.compile("|".join(SKIP), re.ASCII)


@cache
def skipper(extra: tuple[str, ...]) -> Skipper:
    return Skipper(extra)


_STACK_START_HINT: Final = re.compile("|".join(_STACK_START_HINTS))


def is_stack_start(line: str) -> bool:
    return _STACK_START_HINT.search(line) is not None and _STACK_START_ANY.search(line) is not None


def _add(frames: list[tuple[str, str]], m: re.Match[str] | None, skip: Skipper, line: str) -> None:
    if m is None:
        return
    for name in m.groups():
        if name is not None and not skip(name):
            frames.append((name, line))


_HINT_RES: Final = {p: re.compile("|".join(map(re.escape, h))) for p, h in PART_HINTS.items()}


def _may_match(part: re.Pattern[str], line: str) -> bool:
    hint = _HINT_RES.get(part)
    return hint is None or hint.search(line) is not None


_JUMP_HINTS: dict[re.Pattern[str], tuple[str, ...]] = dict(PART_HINTS)


@cache
def _stack_at(parts: tuple[re.Pattern[str], ...]) -> int:
    """The index of the first STACK among `parts` (len(parts) when none)."""
    return next((k for k, p in enumerate(parts) if p is STACK), len(parts))


def _jump_hints(part: re.Pattern[str]) -> tuple[str, ...]:
    """Substrings one of which every line that `part` matches holds (empty: unknown):
    the hints of PART_HINTS, else the text each top-level alternative starts with."""
    hints = _JUMP_HINTS.get(part)
    if hints is None:
        hints = _JUMP_HINTS[part] = _derive_hints(part)
    return hints


def _derive_hints(part: re.Pattern[str]) -> tuple[str, ...]:
    if part is STACK or part.flags & re.IGNORECASE:
        return ()
    hints = []
    for alternative in _alternatives(_unwrap(part.pattern)):
        prefix = literal_prefix(alternative)
        if len(prefix) < 3:
            return ()  # none, or too common to be worth jumping to
        hints.append(prefix)
    return tuple(hints)


def _unwrap(pattern: str) -> str:
    """`pattern` without a capturing or non-capturing group around all of it."""
    if pattern.startswith("(?:"):
        inner = 3
    elif pattern.startswith("(") and not pattern.startswith("(?"):
        inner = 1
    else:
        return pattern
    depth, i = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return pattern[inner:-1] if i == len(pattern) - 1 else pattern
        i += 1
    return pattern


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of `pattern` (itself when it has none)."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def _class_end(pattern: str, i: int) -> int:
    """Just past the character class that starts at pattern[i] ("[")."""
    i += 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1  # a "]" first in a class is a member
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _jump(
    text: str,
    lines: Sequence[str],
    i: int,
    off: int,
    part: re.Pattern[str],
    hints: tuple[str, ...],
) -> tuple[int, int, re.Match[str] | None]:
    """The first line from `i` (at `off` in `text`, which is `lines` joined by newlines)
    on that `part` matches, its offset and the match; (len(lines), _, None) if none.

    Lines without a hint cannot match: the next hint is found at C speed instead of
    testing each line in turn."""
    n = len(lines)
    find = text.find
    end = len(text)
    while i < n:
        pos = -1
        for h in hints:
            # Only before the nearest hint found so far: an absent hint costs no full scan.
            q = find(h, off, end if pos == -1 else pos + len(h) - 1)
            if q != -1:
                pos = q
        if pos == -1:
            break
        skipped = text.count("\n", off, pos)
        j = i + skipped
        if j >= n:
            break  # in a cut line after `lines`
        if skipped:
            off = text.rfind("\n", off, pos) + 1
        m = part.search(lines[j])
        if m:
            return j, off, m
        i = j + 1
        off += len(lines[j]) + 1
    return n, off, None


# FRAME_LINES as one pattern: an alternation tries its branches in order, as _frame_match()
# the patterns, and a branch that does not match leaves its groups None. Its quantifiers
# are possessive (faster) where giving back could not help: what follows each cannot
# match what it would give back (a name is followed by "." or "+", an address by "]").
_PC: Final = r"\[<?+(?:0x)?+[0-9a-f]++>?+\]"
_FUNC: Final = r"([a-zA-Z0-9_]++)(?:\.|\+)"
_FRAME_ANY: Final = re.compile(
    rf"(?:^ *+(?:{_PC} ){{0,2}}+{_FUNC})"
    rf"|(?:^ *+{_PC} \(([a-zA-Z0-9_.]++)\) from {_PC} \({_FUNC})",
    re.ASCII,
)


def _next_stack_start(text: str, lines: Sequence[str], i: int, off: int) -> int:
    """The first line from `i` on (at `off` in `text`, `lines` joined) that
    is_stack_start(), else len(lines)."""
    n = len(lines)
    find = text.find
    end = len(text)
    while i < n:
        pos = -1
        for h in _STACK_START_HINTS:
            q = find(h, off, end if pos == -1 else pos + len(h) - 1)
            if q != -1:
                pos = q
        if pos == -1:
            return n
        skipped = text.count("\n", off, pos)
        j = i + skipped
        if j >= n:
            return n  # in a cut line after `lines`
        if skipped:
            off = text.rfind("\n", off, pos) + 1
        if _STACK_START_ANY.search(lines[j]) is not None:
            return j
        i = j + 1
        off += len(lines[j]) + 1
    return n


def _frame_match(line: str) -> re.Match[str] | None:
    return _FRAME_ANY.match(line)


def _sections(
    text: str,
    lines: Sequence[str],
    parts: Sequence[re.Pattern[str]],
    skip: Skipper,
    pick: Callable[[Sequence[tuple[str, str]]], KeyFrame | None],
    may_stop_early: bool,
    mixed: bool,
    stall_early: bool = False,
    base: int = 0,
) -> tuple[list[KeyFrame], bool, int]:
    """Walk `parts` over `lines`; one key frame per stack section. False: damaged stack.
    Also how many lines the walk went through. `lines` are text[base:] split at newlines
    (perhaps without a cut last line).

    `mixed`: the text may hold fault-injection frames (intermixed output).
    `may_stop_early`: the first frame of a section is its key frame ("first" extractor).
    `stall_early`: the key frame is the one before the first stall anchor, so frames
    after an anchor cannot change it ("stall" extractor)."""
    results: list[KeyFrame] = []
    raw: list[tuple[str, str]] = []
    ok = True
    stacks = 0
    i = 0
    n = len(lines)
    k = 0
    checked = 0  # frames of `raw` already tested for a stall anchor
    at, at_off = 0, base  # a line and its offset in `text`, for _jump()
    start_hint, start_any = _STACK_START_HINT.search, _STACK_START_ANY.search
    frame_match = _FRAME_ANY.match
    one_section = may_stop_early and _stack_at(tuple(parts)) >= len(parts) - 1
    while True:
        if k == len(parts) or (parts[k] is STACK and stacks > 0):
            key = pick(raw)
            if key is None or not key.canonical:
                key, ok = CORRUPTED_FRAME, False
            results.append(key)
            raw = []
            checked = 0
        if k == len(parts):
            return results, ok, i
        if may_stop_early and raw and not stacks and one_section:
            # The first frame is found and the parts left end this (only) section: they
            # can only add frames after it, and it is the key frame.
            k = len(parts)
            continue
        part = parts[k]
        if part is STACK:
            stacks += 1
            nxt = parts[k + 1] if k + 1 < len(parts) else None
            nxt_hint = _HINT_RES.get(nxt) if nxt is not None else None
            last = nxt is None
            if last and not mixed and not may_stop_early and not stall_early:
                # Every frame up to the next stack start counts: find that line at C
                # speed, then look only for frames.
                if i > at:
                    at_off += sum(map(len, lines[at:i])) + i - at
                    at = i
                stop = _next_stack_start(text, lines, i, at_off)
                for line in lines[i:stop]:
                    m = frame_match(line)
                    if m is not None:
                        for name in m.groups():
                            if name is not None and not skip(name):
                                raw.append((name, line))
                i = stop + 1 if stop < n else n
                k += 1
                continue
            if last and may_stop_early and not raw:
                # The first frame not skipped ends the section (the loop below, trimmed).
                while i < n:
                    line = lines[i]
                    i += 1
                    if start_hint(line) is not None and start_any(line) is not None:
                        break
                    m = frame_match(line)
                    if m is None:
                        continue
                    for name in m.groups():
                        if name is not None and not skip(name):
                            raw.append((name, line))
                    if raw:
                        break
                k += 1
                continue
            while i < n:
                line = lines[i]
                i += 1
                if mixed and "should_fail" in line and _INTERMIXED.search(line):
                    ok = False
                    break
                if start_hint(line) is not None and start_any(line) is not None:
                    break  # is_stack_start(line)
                if nxt is not None and (nxt_hint is None or nxt_hint.search(line) is not None):
                    m = nxt.search(line)
                    if m:
                        _add(raw, m, skip, line)
                        k += 1
                        break
                if may_stop_early and raw:
                    if last:
                        # The first frame decides and nothing later can change the verdict.
                        break
                    continue  # only the next part is still looked for
                m = frame_match(line)
                if m is None:
                    continue
                for name in m.groups():
                    if name is not None and not skip(name):
                        raw.append((name, line))
                if may_stop_early and raw and last:
                    break
                if stall_early and last and checked < len(raw):
                    found = False
                    while checked < len(raw):
                        found = found or _is_stall_anchor(canonical_name(raw[checked][0]))
                        checked += 1
                    if found:
                        break
        else:
            hints = _jump_hints(part)
            if hints and not mixed:
                if i > at:
                    at_off += sum(map(len, lines[at:i])) + i - at
                i, at_off, m = _jump(text, lines, i, at_off, part, hints)
                at = i
                if m is not None:
                    _add(raw, m, skip, lines[i])
                    i += 1
                k += 1
                continue
            hint = _HINT_RES.get(part)
            while i < n:
                line = lines[i]
                i += 1
                if mixed and "should_fail" in line and _INTERMIXED.search(line):
                    ok = False
                    break
                if hint is not None and hint.search(line) is None:
                    continue
                m = part.search(line)
                if m:
                    _add(raw, m, skip, line)
                    break
        k += 1


def guilty_frames(
    spec: StackSpec, text: str, pos: int = 0, lines: Sequence[str] | None = None
) -> tuple[list[KeyFrame], bool]:
    """The key frames of text[pos:] (a report from its title on) as `spec` describes them.
    `lines`, when given, are text's lines: text is them joined, a newline after each."""
    skip = skipper(spec.skip)

    def pick(raw: Sequence[tuple[str, str]]) -> KeyFrame | None:
        return pick_frame(spec.extractor, raw)

    # Stopping at the first frame is only safe when no intermixed stack can follow.
    mixed = text.find("should_fail", pos) != -1
    early = spec.extractor == "first" and not mixed
    stall = spec.extractor == "stall" and not mixed
    if lines is not None:
        # text[pos:]'s lines without splitting it again: the rest of pos's line, the
        # lines after it, and the empty one after the last newline.
        j = text.count("\n", 0, pos)
        start = text.rfind("\n", 0, pos) + 1
        walk = [lines[j][pos - start :], *islice(lines, j + 1, None), ""]
        got = _walk(text, walk, spec, skip, pick, early, mixed, stall, whole=True, base=pos)
        assert got is not None
        return got
    # The frames are mostly near the title: split a head of the text into lines first,
    # and all of it only when the walk runs past the head's last whole line.
    if len(text) - pos > _HEAD:
        head = text[pos : pos + _HEAD]
        lines = head.split("\n")
        lines.pop()  # cut
        got = _walk(head, lines, spec, skip, pick, early, mixed, stall)
        if got is not None:
            return got
    rest = text[pos:] if pos else text
    got = _walk(rest, rest.split("\n"), spec, skip, pick, early, mixed, stall, whole=True)
    assert got is not None
    return got


_HEAD: Final = 3 * 1024  # enough for 95% of the walks on syzkaller's reports


def _walk(
    text: str,
    lines: list[str],
    spec: StackSpec,
    skip: Skipper,
    pick: Callable[[Sequence[tuple[str, str]]], KeyFrame | None],
    early: bool,
    mixed: bool,
    stall: bool,
    whole: bool = False,
    base: int = 0,
) -> tuple[list[KeyFrame], bool] | None:
    """guilty_frames() on `lines` (text[base:] split at newlines, perhaps without a cut
    last line); None when the walk reached their end and they are not `whole`."""
    frames, ok, i = _sections(text, lines, spec.parts, skip, pick, early, mixed, stall, base)
    if i >= len(lines) and not whole:
        return None
    if ok or not spec.parts2:
        return frames, ok
    frames, ok, i = _sections(text, lines, spec.parts2, skip, pick, early, mixed, stall, base)
    if i >= len(lines) and not whole:
        return None
    return frames, ok


def has_frame(line: str) -> bool:
    return _frame_match(line) is not None


_MARKERS: Final = re.compile(r"^\s*</?(?:TASK|IRQ|NMI|EOI|SOFTIRQ)>\s*$")


def call_trace(text: str, limit: int = 64) -> tuple[Frame, ...]:
    """The first call trace of a report as frames, unreliable (`? `) entries dropped."""
    at = min((i for i in (text.find("Call Trace"), text.find("Call trace")) if i != -1), default=-1)
    if at < 0:
        return ()
    frames: list[Frame] = []
    for line in text[at : at + 200 * limit].split("\n")[1:]:
        if _MARKERS.match(line) or " ? " in line or line.lstrip().startswith("? "):
            continue
        m = SYMBOL.search(line)
        if m is None or (not has_frame(line) and "[<" not in line):
            break
        frames.append(_frame(m["name"], m))
        if len(frames) >= limit:
            break
    return tuple(frames)
