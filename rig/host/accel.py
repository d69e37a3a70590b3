"""Decide whether guests run under KVM or TCG, and remember the verdict.

`/dev/kvm` alone proves nothing: para-virtualised hosts (kvm_pvm) accept
KVM_CREATE_VM yet hang a stock kernel during boot. A hardware KVM module
(kvm_intel or kvm_amd) is the signal that guests really run; anything else
means TCG. A user can always override the verdict.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from rig.errors import ConfigError

Accel = Literal["kvm", "tcg"]
ACCELS: tuple[Accel, ...] = ("kvm", "tcg")


@dataclass(frozen=True)
class AccelVerdict:
    accel: Accel
    reason: str


def probe(sys_module: Path = Path("/sys/module"), dev_kvm: Path = Path("/dev/kvm")) -> AccelVerdict:
    hw = [m for m in ("kvm_intel", "kvm_amd") if (sys_module / m).exists()]
    if not dev_kvm.exists():
        return AccelVerdict("tcg", "no /dev/kvm")
    if not hw:
        others = sorted(p.name for p in sys_module.glob("kvm*")) if sys_module.exists() else []
        return AccelVerdict("tcg", f"/dev/kvm present but no kvm_intel/kvm_amd (loaded: {others})")
    if not os.access(dev_kvm, os.R_OK | os.W_OK):
        return AccelVerdict("tcg", f"{hw[0]} loaded but /dev/kvm not accessible")
    return AccelVerdict("kvm", f"{hw[0]} loaded")


def parse_accel(value: str) -> Accel:
    if value not in ACCELS:
        raise ConfigError(f"unknown accel {value!r}: use one of {', '.join(ACCELS)}")
    return value


def save(path: Path, verdict: AccelVerdict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(verdict), indent=2) + "\n")
    tmp.replace(path)


def load(path: Path) -> AccelVerdict | None:
    try:
        data = json.loads(path.read_text())
        return AccelVerdict(parse_accel(data["accel"]), str(data["reason"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, ConfigError) as e:
        raise ConfigError(f"{path}: not a valid accel verdict ({e}); rerun `rig host setup`") from e


def current(path: Path, override: str | None = None) -> AccelVerdict:
    """The verdict in force: an explicit override, $RIG_ACCEL, the saved one, a fresh probe."""
    explicit = override or os.environ.get("RIG_ACCEL")
    if explicit:
        return AccelVerdict(parse_accel(explicit), "override")
    return load(path) or probe()
