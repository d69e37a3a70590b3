"""The kinds of outcome a VM can end in, kernel reports and the rig's own verdicts."""

from __future__ import annotations

from enum import Enum


class Kind(str, Enum):
    NULL_DEREF = "null-deref"
    PAGE_FAULT = "page-fault"
    GPF = "general-protection-fault"
    KASAN = "kasan"
    UBSAN = "ubsan"
    WARNING = "warning"
    BUG_ON = "bug-on"
    BAD_USERCOPY = "bad-usercopy"
    STACK_PROTECTOR = "stack-protector"
    LIST_CORRUPTION = "list-corruption"
    SLUB = "slub"
    DIVIDE_ERROR = "divide-error"
    SOFT_LOCKUP = "soft-lockup"
    HUNG_TASK = "hung-task"
    RCU_STALL = "rcu-stall"
    PANIC = "panic"
    BUG = "bug"
    # Verdicts of the rig rather than the kernel:
    LOST_CONNECTION = "lost-connection"
    NO_OUTPUT = "no-output"
