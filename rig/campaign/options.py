"""A campaign's options: parsing, validation, and what a resume may and may not change."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rig.duration import parse_duration
from rig.errors import ConfigError, RigBug
from rig.fleet.hosts import Host
from rig.gen.build import DOORS
from rig.gen.engines import ALIASES, ENGINES

__all__ = [
    "CampaignOptions",
    "abi_policy",
    "check_resume",
    "parse_abi",
    "parse_doors",
    "parse_duration",
    "parse_engine",
]

ABI_CHOICES = {"64": (64,), "32": (32,), "both": (64, 32)}


def parse_doors(text: str) -> tuple[str, ...]:
    doors = tuple(d.strip() for d in text.split(",") if d.strip())
    bad = [d for d in doors if d not in DOORS]
    if bad or not doors:
        raise ConfigError(
            f"unknown door(s) {', '.join(bad) or '(none)'}: doors are {', '.join(DOORS)}"
        )
    return doors


def parse_abi(text: str) -> tuple[int, ...]:
    """`--abi 64|32|both`: the processes programs run in."""
    if text not in ABI_CHOICES:
        raise ConfigError(f"--abi {text!r}: choose one of {', '.join(ABI_CHOICES)}")
    return ABI_CHOICES[text]


def abi_policy(module: str, compat: list[str] | None) -> tuple[tuple[int, ...], str]:
    """The ABIs a campaign uses when not told, and why, from the module's compat_ioctl handlers.

    A handler of the driver's own (not the kernel's compat_ptr_ioctl, which
    only converts the pointer) translates 32-bit structs itself: code that
    only 32-bit processes reach, so half the programs run as one.
    """
    from rig.spec.import_module import GENERIC_COMPAT

    if compat is None:
        return (64,), f"64-bit programs only ({module}'s compat_ioctl handlers are unknown)"
    own = [c for c in compat if c not in GENERIC_COMPAT]
    if own:
        return (64, 32), f"64- and 32-bit programs: {module} has its own compat_ioctl ({own[0]})"
    return (64,), f"64-bit programs only: {module} has no compat_ioctl of its own"


def parse_engine(name: str) -> str:
    canonical = ALIASES.get(name, name)
    if canonical not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}: engines are {', '.join(ENGINES)}")
    return canonical


@dataclass(frozen=True)
class CampaignOptions:
    driver: str
    module: str | None
    bugs: str  # planted bugs switched on through the driver's fault parameter ("" for none)
    vms: int
    duration_s: float
    engine: str
    doors: tuple[str, ...]
    seed: int
    spec: str
    window: int = 1
    params: str = ""  # the module's parameters, the fault switch included
    # Processes programs run in, 64- and/or 32-bit; None until the campaign's
    # image is known, which decides (`abi_policy`).
    abis: tuple[int, ...] | None = None
    abi_reason: str = ""  # why those, when the campaign chose them itself
    # Where the guest exports coverage, in rigcov's protocol; "" is rigcov's own
    # file. Another file only for a module that carries hooks of its own.
    coverage_file: str = ""
    # The libvirt hosts the VMs are spread over (slots in this order); empty:
    # all `vms` on the run context's URI.
    hosts: tuple[Host, ...] = ()

    def __post_init__(self) -> None:
        # The image is built from `params` alone: bugs without them would fuzz a
        # clean driver and find nothing (a benchmark once did, 0/12 in 15 minutes).
        if self.bugs and not self.params:
            raise RigBug(f"campaign options name bugs {self.bugs!r} but no module parameters")
        if self.hosts and sum(h.vms for h in self.hosts) != self.vms:
            raise RigBug(f"campaign options: {self.vms} VMs but hosts {self.hosts} hold another")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["doors"] = list(self.doors)
        d["abis"] = None if self.abis is None else list(self.abis)
        d["hosts"] = [h.to_json() for h in self.hosts]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CampaignOptions:
        try:
            values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
            values["doors"] = tuple(values["doors"])
            # Saved before 32-bit programs existed: 64-bit ones only.
            abis = d.get("abis", (64,))
            values["abis"] = None if abis is None else tuple(abis)
            values["hosts"] = tuple(Host(str(h["uri"]), int(h["vms"])) for h in d.get("hosts", []))
            if "params" not in d and d.get("bugs"):  # saved before params were an option
                values["params"] = f"bugs={d['bugs']}"
            return cls(**values)
        except (KeyError, TypeError) as e:
            raise ConfigError(f"campaign options are damaged ({e})") from e


# Options a resumed campaign must keep: its results only make sense under them.
FIXED = ("driver", "module", "bugs", "params", "engine", "doors", "seed", "spec", "abis")


def check_resume(saved: CampaignOptions, asked: dict[str, Any], where: Path) -> None:
    """Refuse options given on resume that conflict with the campaign's own."""
    for name in FIXED:
        if name in asked and asked[name] is not None and asked[name] != getattr(saved, name):
            raise ConfigError(
                f"campaign {where} was started with {name}={getattr(saved, name)!r}; "
                f"refusing to resume it with {name}={asked[name]!r}"
            )


def load_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except FileNotFoundError as e:
        raise ConfigError(f"{path.parent} is not a campaign directory (no {path.name})") from e
    except ValueError as e:
        raise ConfigError(f"{path}: damaged ({e})") from e
