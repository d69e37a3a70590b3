"""The kinds of outcome a VM can end in, and syzkaller's crash type for a title.

`Kind` is what the rig reasons about (fatal or not, how to reproduce); the crash
type is the coarser label syzkaller derives from a title by prefix rules
(`pkg/report/crash`), kept so our figures can be compared with syzbot's.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    NULL_DEREF = "null-deref"
    PAGE_FAULT = "page-fault"
    GPF = "general-protection-fault"
    KASAN = "kasan"
    KMSAN = "kmsan"
    KCSAN = "kcsan"
    KFENCE = "kfence"
    UBSAN = "ubsan"
    WARNING = "warning"
    BUG_ON = "bug-on"
    BAD_USERCOPY = "bad-usercopy"
    STACK_PROTECTOR = "stack-protector"
    STACK_OVERFLOW = "stack-overflow"
    LIST_CORRUPTION = "list-corruption"
    SLUB = "slub"
    BAD_PAGE = "bad-page"
    DIVIDE_ERROR = "divide-error"
    INVALID_OPCODE = "invalid-opcode"
    DOUBLE_FAULT = "double-fault"
    ARCH_FAULT = "arch-fault"
    SOFT_LOCKUP = "soft-lockup"
    HUNG_TASK = "hung-task"
    RCU_STALL = "rcu-stall"
    LOCKDEP = "lockdep"
    ATOMIC_SLEEP = "atomic-sleep"
    MEMORY_LEAK = "memory-leak"
    PANIC = "panic"
    REBOOT = "unexpected-reboot"
    BUG = "bug"
    # Verdicts of the rig rather than the kernel:
    LOST_CONNECTION = "lost-connection"
    NO_OUTPUT = "no-output"


# Titles the rig gives its own verdicts, spelled as syzkaller spells them.
VERDICT_TITLES: dict[Kind, str] = {
    Kind.LOST_CONNECTION: "lost connection to test machine",
    Kind.NO_OUTPUT: "no output from test machine",
}

# syzkaller's title -> crash type rules: the first row with a matching prefix wins.
# Facts from syzkaller pkg/report/crash/title_to_type.go; "" is UNKNOWN.
_TYPE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("KFENCE-USE-AFTER-FREE-WRITE", ("KFENCE: use-after-free write",)),
    ("KFENCE-USE-AFTER-FREE-READ", ("KFENCE: use-after-free read", "KFENCE: use-after-free")),
    ("KFENCE-WRITE", ("KFENCE: invalid write", "KFENCE: out-of-bounds write")),
    (
        "KFENCE-READ",
        ("KFENCE: invalid read", "KFENCE: out-of-bounds read", "KFENCE: out-of-bounds"),
    ),
    ("KFENCE-MEMORY-CORRUPTION", ("KFENCE: memory corruption",)),
    ("KFENCE-INVALID-FREE", ("KFENCE: invalid free",)),
    ("KMSAN-UNINIT-VALUE", ("KMSAN: uninit-value",)),
    (
        "KMSAN-USE-AFTER-FREE-READ",
        (
            "KMSAN: kernel-infoleak-after-free",
            "KMSAN: kernel-usb-infoleak-after-free",
            "KMSAN: use-after-free",
        ),
    ),
    ("KMSAN-INFO-LEAK", ("KMSAN: kernel-infoleak", "KMSAN: kernel-usb-infoleak")),
    ("KASAN-NULL-POINTER-DEREFERENCE-WRITE", ("KASAN: null-ptr-deref Write",)),
    ("KASAN-NULL-POINTER-DEREFERENCE-READ", ("KASAN: null-ptr-deref Read",)),
    ("NULL-POINTER-DEREFERENCE", ("BUG: unable to handle kernel NULL pointer dereference in",)),
    (
        "KASAN-WRITE",
        tuple(
            f"KASAN: {k} Write"
            for k in (
                "global-out-of-bounds",
                "out-of-bounds",
                "slab-out-of-bounds",
                "stack-out-of-bounds",
                "user-memory-access",
                "vmalloc-out-of-bounds",
                "wild-memory-access",
            )
        ),
    ),
    (
        "KASAN-READ",
        (
            "KASAN: global-out-of-bounds Read",
            "KASAN: invalid-access Read",
            "KASAN: out-of-bounds Read",
            "KASAN: slab-out-of-bounds Read",
            "KASAN: slab-out-of-bounds",
            "KASAN: stack-out-of-bounds Read",
            "KASAN: stack-out-of-bounds",
            "KASAN: unknown-crash Read",
            "KASAN: user-memory-access Read",
            "KASAN: vmalloc-out-of-bounds Read",
            "KASAN: wild-memory-access Read",
            "KASAN: wild-memory-access",
        ),
    ),
    ("KASAN-INVALID-FREE", ("KASAN: double-free or invalid-free", "KASAN: invalid-free")),
    (
        "KASAN-USE-AFTER-FREE-WRITE",
        ("KASAN: slab-use-after-free Write", "KASAN: use-after-free Write"),
    ),
    (
        "KASAN-USE-AFTER-FREE-READ",
        (
            "KASAN: slab-use-after-free Read",
            "KASAN: use-after-free Read",
            "KASAN: use-after-free",
        ),
    ),
    ("MEMORY_SAFETY_BUG", ("BUG: corrupted list", "BUG: unable to handle kernel paging request")),
    ("REFCOUNT_WARNING", ("WARNING: refcount bug",)),
    ("MEMORY_SAFETY_UBSAN", ("UBSAN: array-index-out-of-bounds",)),
    ("KCSAN-DATARACE", ("KCSAN: data-race",)),
    ("KCSAN-ASSERT", ("KCSAN: assert: race in",)),
    (
        "LOCKDEP",
        (
            "BUG: bad unlock balance in",
            "BUG: held lock freed in",
            "BUG: rwlock",
            "BUG: spinlock",
            "BUG: still has locks held in",
            "BUG: using",
            "WARNING: bad unlock balance in",
            "WARNING: held lock freed in",
            "WARNING: lock held",
            "WARNING: locking bug in",
            "WARNING: nested lock was not taken in",
            "WARNING: still has locks held in",
            "WARNING: suspicious RCU usage in",
            "inconsistent lock state in",
            "possible deadlock in",
        ),
    ),
    (
        "ATOMIC_SLEEP",
        (
            "BUG: scheduling while atomic in",
            "BUG: sleeping function called from invalid context in",
        ),
    ),
    ("LEAK", ("memory leak in",)),
    ("BUG", ("BUG: bad usercopy in", "kernel BUG")),
    ("WARNING", ("WARNING in",)),
    (
        "",
        (
            "BUG: stack guard page was hit in",
            "WARNING: corrupted",
            "WARNING: kernel stack frame pointer has bad value",
            "WARNING: kernel stack regs has bad",
        ),
    ),
    (
        "HANG",
        (
            "BUG: soft lockup in",
            "INFO: rcu detected stall in",
            "INFO: task can't die in",
            "INFO: task hung in",
        ),
    ),
    (
        "DoS",
        (
            "Alignment trap in",
            "BUG: Object already free",
            "Internal error in",
            "PANIC: double fault",
            "Unhandled fault in",
            "VFS: Busy inodes after unmount (use-after-free)",
            "VFS: Close: file count is zero (use-after-free)",
            "divide error in",
            "general protection fault in",
            "go runtime error",
            "invalid opcode in",
            "kernel panic:",
            "kernel stack overflow",
            "panic:",
            "rust_kernel panicked",
            "stack segment fault in",
            "trusty:",
            "unregister_netdevice: waiting for DEV to become free",
        ),
    ),
    ("REBOOT", ("unexpected kernel reboot",)),
    ("SYZ_FAILURE", ("SYZFAIL", "SYZFATAL:")),
    ("LOST_CONNECTION", ("lost connection to test machine",)),
    ("WARNING", ("WARNING:",)),
    ("", ("BUG:", "INFO:")),
    ("KASAN-UNKNOWN", ("KASAN:",)),
    ("KFENCE-UNKNOWN", ("KFENCE:",)),
    ("KMSAN-UNKNOWN", ("KMSAN:",)),
    ("UBSAN", ("UBSAN:",)),
    ("KCSAN-UNKNOWN", ("KCSAN:",)),
)


def crash_type(title: str) -> str:
    """syzkaller's crash type for `title` ("" when unknown), e.g. "KASAN-READ", "HANG"."""
    for crash, prefixes in _TYPE_RULES:
        if title.startswith(prefixes):
            return crash
    return ""
