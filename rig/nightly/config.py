"""A nightly configuration: what to build, how long to fuzz, what to keep, when to fail.

The file is TOML (`rig nightly --init` writes EXAMPLE). Paths are relative to
the file's directory. Every key has a default except `driver.dir`; unknown
keys are errors, so a typo never silently does nothing. The hash of the
parsed configuration (not of the text: comments and order do not count)
tells runs of the same configuration from runs of an edited one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rig.campaign.options import ABI_CHOICES, parse_doors, parse_engine
from rig.duration import parse_duration
from rig.errors import ConfigError
from rig.fleet.hosts import Host
from rig.fleet.hosts import check as check_hosts
from rig.fleet.hosts import from_table as hosts_from_table
from rig.gen.build import DOORS

VERSION = 1
FAIL_ON = ("new", "regressed", "still", "flaky", "fixed")

EXAMPLE = """\
# rig nightly configuration (version 1). Paths are relative to this file.
version = 1
# Names this configuration's runs in the store; verdicts compare runs of one name.
name = "boundary-nightly"

[driver]
dir = "driver"          # the driver's source directory (inside a git work tree for `revision`)
revision = "HEAD"       # git revision to build; "" builds the directory as it is
module = ""             # the module to load when the directory builds several
params = ""             # module parameters, e.g. "debug=1 queues=4"

[campaign]
duration = "30m"
vms = 2
engine = "atheris"      # atheris, hypothesis, generate or random
doors = []              # [] for all: ioctl, netlink, sysfs, procfs, debugfs
abi = "auto"            # 64, 32, both, or auto (both when the module has its own compat_ioctl)
spec = ""               # "" for corpora/specs/MODULE.yaml
kernel = ""             # "" for the newest installed kernel headers' version
seed = 0

[repro]
budget = "10m"          # time to reproduce one new bucket
max_new = 5             # new buckets reproduced per run, oldest first
runs = 3                # k: reproducer runs when deciding fixed, flaky or still

[output]
dir = "nightly"         # each run writes DIR/NAME/RUN/{summary.json,junit.xml,report.html}
fail_on = ["new", "regressed"]   # verdicts that fail the run; ["any"] or [] (never)

[retention]
runs = 30               # newest runs whose campaign files and output are kept
crash_logs = 8          # console logs kept per bucket (the first report always is)

# Spread the VMs over libvirt hosts instead of campaign.vms on --uri (repeat
# the table per host; `rig nightly --host URI=VMS` does the same):
# [[hosts]]
# uri = "qemu+ssh://fuzz1.example.org/system"
# vms = 2
"""


@dataclass(frozen=True)
class DriverConfig:
    dir: Path
    revision: str = "HEAD"
    module: str = ""
    params: str = ""


@dataclass(frozen=True)
class CampaignConfig:
    duration_s: float = 1800.0
    vms: int = 2
    engine: str = "atheris"
    doors: tuple[str, ...] = DOORS
    abi: str = "auto"
    spec: Path | None = None
    kernel: str = ""
    seed: int = 0
    hosts: tuple[Host, ...] = ()  # [[hosts]]: where the VMs run, when not all on --uri

    @property
    def abis(self) -> tuple[int, ...] | None:
        return None if self.abi == "auto" else ABI_CHOICES[self.abi]


@dataclass(frozen=True)
class ReproConfig:
    budget_s: float = 600.0
    max_new: int = 5
    runs: int = 3


@dataclass(frozen=True)
class RetentionConfig:
    runs: int = 30
    crash_logs: int = 8


@dataclass(frozen=True)
class NightlyConfig:
    path: Path
    name: str
    driver: DriverConfig
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    repro: ReproConfig = field(default_factory=ReproConfig)
    output_dir: Path = Path("nightly")
    fail_on: tuple[str, ...] = ("new", "regressed")
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    @property
    def hash(self) -> str:
        """sha256 of the parsed configuration, paths as given relative to the file."""
        body = asdict(self)
        body.pop("path")
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def with_fail_on(cfg: NightlyConfig, text: str) -> NightlyConfig:
    """`--fail-on new,regressed|any|never` over the configuration's own."""
    if text == "never":
        got: tuple[str, ...] = ()
    elif text == "any":
        got = FAIL_ON
    else:
        got = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [v for v in got if v not in FAIL_ON]
        if bad or not got:
            raise ConfigError(
                f"--fail-on {text!r}: verdicts are {', '.join(FAIL_ON)}; or any, never"
            )
    return dataclasses.replace(cfg, fail_on=got)


def load(path: Path) -> NightlyConfig:
    """Parse and check a configuration file; ConfigError naming the file and the key."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such nightly configuration (`rig nightly --init` writes one)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not TOML: {e}") from None
    return parse(data, path)


def _rows(value: Any, path: Path) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: hosts must be an array of tables ([[hosts]])")
    return value


def with_hosts(cfg: NightlyConfig, hosts: tuple[Host, ...]) -> NightlyConfig:
    """`cfg` with its VMs on `hosts` (the command line's --host wins over [[hosts]])."""
    if not hosts:
        return cfg
    c = replace(cfg.campaign, hosts=check_hosts(hosts), vms=sum(h.vms for h in hosts))
    return replace(cfg, campaign=c)


def parse(data: dict[str, Any], path: Path) -> NightlyConfig:
    r = _Reader(path)
    r.keys(
        data, "", ("version", "name", "driver", "campaign", "repro", "output", "retention", "hosts")
    )
    version = r.integer(data, "version", VERSION, 1, VERSION)
    if version != VERSION:
        raise ConfigError(f"{path}: version {version} is not {VERSION}")
    base = path.parent
    d = r.table(data, "driver")
    r.keys(d, "driver", ("dir", "revision", "module", "params"))
    if "dir" not in d:
        raise ConfigError(f"{path}: [driver] needs dir (the driver's source directory)")
    driver = DriverConfig(
        (base / r.text(d, "dir", "")).resolve(),
        r.text(d, "revision", "HEAD"),
        r.text(d, "module", ""),
        r.text(d, "params", ""),
    )
    c = r.table(data, "campaign")
    r.keys(c, "campaign", ("duration", "vms", "engine", "doors", "abi", "spec", "kernel", "seed"))
    abi = r.text(c, "abi", "auto")
    if abi != "auto" and abi not in ABI_CHOICES:
        raise ConfigError(f"{path}: campaign.abi {abi!r} is not auto, 64, 32 or both")
    doors = c.get("doors", [])
    if not isinstance(doors, list) or not all(isinstance(x, str) for x in doors):
        raise ConfigError(f"{path}: campaign.doors must be a list of door names")
    spec = r.text(c, "spec", "")
    try:
        campaign = CampaignConfig(
            parse_duration(r.text(c, "duration", "30m")),
            r.integer(c, "vms", 2, 1, 64),
            parse_engine(r.text(c, "engine", "atheris")),
            parse_doors(",".join(doors)) if doors else DOORS,
            abi,
            (base / spec).resolve() if spec else None,
            r.text(c, "kernel", ""),
            r.integer(c, "seed", 0, 0, 2**31),
            hosts_from_table(_rows(data.get("hosts", []), path), str(path)),
        )
        if campaign.hosts:  # the hosts' counts are the VMs
            campaign = replace(campaign, vms=sum(h.vms for h in campaign.hosts))
        rp = r.table(data, "repro")
        r.keys(rp, "repro", ("budget", "max_new", "runs"))
        repro = ReproConfig(
            parse_duration(r.text(rp, "budget", "10m")),
            r.integer(rp, "max_new", 5, 0, 1000),
            r.integer(rp, "runs", 3, 1, 100),
        )
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    o = r.table(data, "output")
    r.keys(o, "output", ("dir", "fail_on"))
    fail_on = o.get("fail_on", ["new", "regressed"])
    if not isinstance(fail_on, list) or not all(isinstance(x, str) for x in fail_on):
        raise ConfigError(f"{path}: output.fail_on must be a list of verdicts")
    if fail_on == ["any"]:
        fail_on = list(FAIL_ON)
    bad = [v for v in fail_on if v not in FAIL_ON]
    if bad:
        raise ConfigError(f"{path}: output.fail_on: unknown {bad}; verdicts are {FAIL_ON}")
    t = r.table(data, "retention")
    r.keys(t, "retention", ("runs", "crash_logs"))
    return NightlyConfig(
        path.resolve(),
        r.text(data, "name", path.stem) or path.stem,
        driver,
        campaign,
        repro,
        (base / r.text(o, "dir", "nightly")).resolve(),
        tuple(fail_on),
        RetentionConfig(r.integer(t, "runs", 30, 1, 10000), r.integer(t, "crash_logs", 8, 1, 1000)),
    )


@dataclass
class _Reader:
    path: Path

    def keys(self, table: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        extra = sorted(set(table) - set(allowed))
        if extra:
            at = f"[{where}] " if where else ""
            raise ConfigError(f"{self.path}: {at}unknown key(s) {', '.join(extra)}")

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        v = data.get(key, {})
        if not isinstance(v, dict):
            raise ConfigError(f"{self.path}: [{key}] must be a table")
        return v

    def text(self, data: dict[str, Any], key: str, default: str) -> str:
        v = data.get(key, default)
        if not isinstance(v, str):
            raise ConfigError(f"{self.path}: {key} must be a string, not {v!r}")
        return v

    def integer(self, data: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(f"{self.path}: {key} must be an integer in {lo}..{hi}, not {v!r}")
        return v
