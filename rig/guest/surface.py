"""What programs may touch in the guest by default: the files and family a module created."""

from __future__ import annotations

from typing import Any

from rig.guest.protocol import AgentConfig
from rig.spec.types import Spec

# rigcov's file (vmimages/rigcov/rigcov.h): the same for every module.
COVERAGE_PATH = "/sys/kernel/debug/rigcov/cov"


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
        allow_paths=spec.paths,
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
