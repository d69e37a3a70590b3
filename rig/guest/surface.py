"""What programs may touch in the guest by default: the files and family a module created."""

from __future__ import annotations

from rig.guest.protocol import AgentConfig


def coverage_path(module: str) -> str:
    return f"/sys/kernel/debug/{module}/cov"


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
        f"/sys/kernel/debug/{module}/",
        *extra_paths,
    )
    return AgentConfig(
        allow_paths=paths,
        allow_families=(module,),
        call_timeout_s=call_timeout_s,
        coverage_path=coverage_path(module),
    )
