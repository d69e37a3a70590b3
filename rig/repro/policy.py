"""The agent's path policy, decided on the host: which opens it refuses by name, and how it opens.

Twin of the name checks in vmimages/agent/policy.c (clean_path, deny_paths,
the allowlist match). A standalone reproducer has no agent in front of the
driver, so `rig.repro.csource` turns every open the agent would refuse into
the refusal itself; otherwise a reproducer could reach files (sysrq-trigger,
module parameters) that the crashing program never touched.

The agent also refuses files by identity after opening them (a symlink to a
denied file); allowlisted directories are opened beneath themselves, so that
check only matters for symlinks inside them, which this twin does not follow.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from rig.guest.protocol import AgentConfig

# Twin of deny_paths[] in vmimages/agent/policy.c (a unit test keeps them equal).
DENY_PATHS: tuple[str, ...] = (
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/",
    "/proc/sys/vm/",
    "/proc/kcore",
    "/proc/kmsg",
    "/proc/self/",
    "/proc/thread-self/",
    "/sys/module/",
    "/sys/power/",
    "/sys/kernel/debug/kcov",
    "/dev/mem",
    "/dev/kmem",
    "/dev/port",
    "/dev/kmsg",
)


@dataclass(frozen=True)
class Access:
    """How the agent treats one path: refused (with errno), opened beneath `entry`, or plainly."""

    refused_errno: int = 0
    entry: str | None = None  # an allowlist directory entry ending in '/'

    @property
    def refused(self) -> bool:
        return self.refused_errno != 0


def clean_path(path: str) -> bool:
    """Absolute, and no empty, '.' or '..' component."""
    if not path.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in path[1:].split("/"))


def _matches(entry: str, path: str) -> bool:
    if entry.endswith("/"):
        return path.startswith(entry) and len(path) > len(entry)
    return path == entry or path.startswith(entry + "/")


def access(config: AgentConfig, path: str) -> Access:
    """What the agent does with an open of `path` under `config` (policy_open)."""
    if not clean_path(path) or any(_matches(d, path) for d in DENY_PATHS):
        return Access(errno.EPERM)
    if config.coverage_path and path == config.coverage_path:
        return Access(errno.EPERM)
    for entry in config.allow_paths:
        if len(entry) > 1 and entry.endswith("/") and path.startswith(entry) and path != entry:
            return Access(entry=entry)
        if entry == path:
            return Access()
    return Access(errno.EACCES)


def family_allowed(config: AgentConfig, family: str) -> bool:
    return family in config.allow_families
