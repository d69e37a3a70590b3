"""What programs may touch in the guest by default: the files and family a module created."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rig.errors import ConfigError
from rig.guest.protocol import MAX_ALLOW, AgentConfig
from rig.spec.types import Spec

# rigcov's file (vmimages/rigcov/rigcov.h): the same for every module.
COVERAGE_PATH = "/sys/kernel/debug/rigcov/cov"
# A directory allowed as a whole has at least this many components
# (/sys/devices/virtual/net/gre0/ has 5): /sys/ or /proc/ never is.
MIN_DIR_PARTS = 3


def allowlist(paths: Iterable[str], limit: int = MAX_ALLOW) -> tuple[str, ...]:
    """`paths` in at most `limit` entries: the fullest directories allowed as a whole.

    A module with netdevs lists hundreds of sysfs attributes (ip_gre: 204,
    three devices' worth); the agent takes 64 entries. Files are merged into
    the directory holding most of them, deepest first, until the list fits;
    a directory is never shallower than MIN_DIR_PARTS components.
    """
    given = tuple(dict.fromkeys(paths))
    if len(given) <= limit:
        return given
    entries = set(given)
    while len(entries) > limit:
        under: Counter[str] = Counter()
        for e in entries:
            parent = e.rstrip("/").rsplit("/", 1)[0] + "/"
            if parent.count("/") - 1 >= MIN_DIR_PARTS:
                under[parent] += 1
        best = max(
            (d for d, n in under.items() if n > 1),
            key=lambda d: (under[d], d.count("/")),
            default=None,
        )
        if best is None:
            raise ConfigError(
                f"{len(entries)} paths to allow and no directory to merge them in "
                f"(the agent takes {limit}): {', '.join(sorted(entries)[:5])}, ..."
            )
        entries = {e for e in entries if not e.startswith(best)} | {best}
    return tuple(sorted(entries))


def default_config(
    module: str, call_timeout_s: float, extra_paths: tuple[str, ...] = ()
) -> AgentConfig:
    """The usual homes of a driver's doors, named after its module.

    An entry ending in '/' lets programs reach the files beneath it; the
    agent refuses module parameters, the coverage file and the kernel's
    dangerous files whatever this list says.
    """
    paths = (
        f"/dev/{module}",
        f"/proc/{module}/",
        f"/sys/class/misc/{module}/",
        f"/sys/devices/virtual/misc/{module}/",
        f"/sys/kernel/debug/{module}/",
        *extra_paths,
    )
    return AgentConfig(
        allow_paths=paths,
        allow_families=(module,),
        call_timeout_s=call_timeout_s,
        coverage_path=COVERAGE_PATH,
    )


def spec_config(spec: Spec, call_timeout_s: float) -> AgentConfig:
    """What programs of a spec may touch: its files, devices and families, whatever they are named."""
    return AgentConfig(
        allow_paths=allowlist(spec.paths),
        allow_families=tuple(spec.family_names),
        call_timeout_s=call_timeout_s,
        coverage_path=COVERAGE_PATH,
    )


def describe(config: AgentConfig) -> dict[str, Any]:
    """What a crash record keeps of the agent's configuration, so a replay allows the same."""
    return {
        "allow_paths": list(config.allow_paths),
        "allow_families": list(config.allow_families),
        "coverage_path": config.coverage_path,
    }


def config_for(manifest: dict[str, Any], module: str, call_timeout_s: float) -> AgentConfig:
    """The configuration a crash ran under (`describe`), or the default for older records."""
    agent = manifest.get("agent")
    if not isinstance(agent, dict):
        return default_config(module, call_timeout_s)
    return AgentConfig(
        allow_paths=tuple(str(p) for p in agent.get("allow_paths", [])),
        allow_families=tuple(str(f) for f in agent.get("allow_families", [])),
        call_timeout_s=call_timeout_s,
        coverage_path=agent.get("coverage_path") or None,
    )
