"""Watch a running campaign's resource use and judge whether anything grows without bound.

A sampler thread in the campaign's parent records, every interval, into
soak.jsonl of the campaign directory: the resident memory and open file
descriptors of every rig process (the parent, its workers and their engine
children), the campaign's running domains, the disk the campaign and the
crash store use, and the store's database size. At the end a straight line
is fitted to the second half of each series (the first half is warm-up:
corpora, caches and the first crashes settle there) and its slope per hour
is held against a stated bound; domains must never exceed the VMs asked for.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rig.campaign.runner import Campaign

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    t_s: float  # since sampling began
    rss_mib: float
    fds: int
    processes: int
    domains: int
    disk_mib: float  # the campaign directory and the crash store's files
    store_mib: float  # crashes.db and its WAL


@dataclass(frozen=True)
class Bound:
    metric: str
    per_hour: float
    unit: str
    why: str


# What a healthy campaign may still add per hour once warmed up. Each is far
# above what a bounded process shows and far below what a leak of one object
# per program or per boot gives (hundreds of programs/s, a boot per crash).
BOUNDS: tuple[Bound, ...] = (
    Bound(
        "rss_mib", 16.0, "MiB", "memory of the rig's processes (transcripts and corpora are capped)"
    ),
    Bound("fds", 4.0, "fds", "a descriptor leaked per boot or per program grows far faster"),
    Bound(
        "disk_mib", 128.0, "MiB", "boot directories are pruned; crash logs are a ring per bucket"
    ),
    Bound("store_mib", 16.0, "MiB", "one row per crash"),
)


@dataclass(frozen=True)
class Judgement:
    metric: str
    first: float
    last: float
    slope_per_hour: float
    bound_per_hour: float
    ok: bool
    why: str


def slope_per_hour(ts: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per hour; 0 for fewer than two points."""
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return 3600.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var


def judge(samples: Sequence[Sample], vms: int) -> list[Judgement]:
    """Slopes of the second half against BOUNDS, and the domain count against the VMs."""
    out = []
    settled = list(samples[len(samples) // 2 :])
    ts = [s.t_s for s in settled]
    for b in BOUNDS:
        ys = [float(getattr(s, b.metric)) for s in settled]
        slope = slope_per_hour(ts, ys)
        out.append(
            Judgement(
                b.metric,
                float(getattr(samples[0], b.metric)) if samples else 0.0,
                ys[-1] if ys else 0.0,
                round(slope, 3),
                b.per_hour,
                slope <= b.per_hour,
                b.why,
            )
        )
    most = max((s.domains for s in samples), default=0)
    out.append(
        Judgement(
            "domains",
            0.0,
            float(most),
            0.0,
            float(vms),
            most <= vms,
            "running domains of the campaign at most the VMs asked for (+1 for --repro)",
        )
    )
    return out


def _children(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc (engine children of workers included)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            parent[int(d.name)] = int(stat[stat.rfind(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _size(paths: Sequence[Path]) -> int:
    total = 0
    for root in paths:
        if root.is_file():
            total += root.stat().st_size
            continue
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    continue
    return total


def sample(camp: Campaign, t_s: float, domains: Callable[[], int]) -> Sample:
    pids = [os.getpid(), *_children(os.getpid())]
    home = camp.home.root
    store = [p for p in (home / "crashes.db", home / "crashes.db-wal") if p.exists()]
    return Sample(
        t_s=round(t_s, 1),
        rss_mib=round(sum(_rss_kib(p) for p in pids) / 1024, 1),
        fds=sum(_fds(p) for p in pids),
        processes=len(pids),
        domains=domains(),
        disk_mib=round(_size([camp.dir.path, home / "crashes", *store]) / MIB, 2),
        store_mib=round(_size(store) / MIB, 3),
    )


class Sampler:
    """Samples `camp` every `interval_s` into soak.jsonl until stopped."""

    def __init__(self, camp: Campaign, interval_s: float, domains: Callable[[], int]) -> None:
        self.camp = camp
        self.interval_s = interval_s
        self.domains = domains
        self.samples: list[Sample] = []
        self.path = camp.dir.path / "soak.jsonl"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak", daemon=True)
        self._t0 = time.monotonic()

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(30)
        return self.samples

    def _run(self) -> None:
        while True:
            try:
                s = sample(self.camp, time.monotonic() - self._t0, self.domains)
                self.samples.append(s)
                with self.path.open("a") as f:
                    f.write(json.dumps(asdict(s), sort_keys=True) + "\n")
            except Exception:  # a failed sample must not end the campaign
                log.exception("soak sample failed")
            if self._stop.wait(self.interval_s):
                return
