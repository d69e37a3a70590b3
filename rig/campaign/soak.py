"""Watch a running campaign's resource use and judge whether anything grows without bound.

A sampler thread in the campaign's parent records, every interval, into
soak.jsonl of the campaign directory: the resident memory and open file
descriptors of every rig process (the parent, its workers and their engine
children), the campaign's running domains, the disk the campaign and the
crash store use, and the store's database size. At the end a straight line
is fitted to the second half of each series (the first half is warm-up:
corpora, caches, malloc's high-water mark and the first crashes settle
there) and its slope is held against a stated bound:

- descriptors per VM boot: a leak per VM (the usual kind; `rig soak` found
  one in the console watcher) shows within minutes, so this is always judged;
- memory, disk and store size per hour: only over a settled window of at
  least MIN_WINDOW_S, because a few minutes of warm-up look like growth
  (a worker's RSS climbs in steps of a few MiB as transient 1 MiB buffers
  raise malloc's high-water mark, then levels off); shorter runs say so;
- running domains must never exceed the VMs asked for.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rig.campaign.runner import Campaign

log = logging.getLogger(__name__)

MIB = 1024 * 1024


MIN_WINDOW_S = 1200.0  # settled minutes needed before a per-hour slope means anything


@dataclass(frozen=True)
class Sample:
    t_s: float  # since sampling began
    boots: int  # VM boots of the campaign so far
    rss_mib: float
    fds: int
    processes: int
    domains: int
    disk_mib: float  # the campaign directory and the crash store's files
    store_mib: float  # crashes.db
    rss_by_pid: dict[str, float] = field(default_factory=dict)  # each process's share of rss_mib


@dataclass(frozen=True)
class Bound:
    metric: str
    per_hour: float
    unit: str
    why: str
    # Fit the rolling minimum of this many samples: a leak raises the floor of a
    # series, a garbage collector's sawtooth (workers swing 50-80 MiB between
    # collections) only its peaks, which a plain fit over 30 samples mistakes
    # for growth.
    floor: int = 1


# What a healthy campaign may still add per hour once warmed up. Each is far
# above what a bounded process shows and far below what a leak of one object
# per program or per boot gives (hundreds of programs/s, a boot per crash).
BOUNDS: tuple[Bound, ...] = (
    Bound(
        "rss_mib",
        16.0,
        "MiB/h",
        "memory of the rig's processes, its floor over 5 samples (transcripts, corpora capped)",
        floor=5,
    ),
    Bound(
        "disk_mib", 128.0, "MiB/h", "boot directories are pruned; crash logs are a ring per bucket"
    ),
    Bound("store_mib", 16.0, "MiB/h", "one row of about 2 KB per crash"),
)
FDS_PER_BOOT = Bound("fds", 0.25, "fds/boot", "descriptors must not grow with the VMs booted")


@dataclass(frozen=True)
class Judgement:
    metric: str
    first: float
    last: float
    slope: float
    bound: float
    unit: str
    ok: bool
    judged: bool
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


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs; 0 for fewer than two distinct xs."""
    return slope_per_hour(xs, ys) / 3600.0


def floor_of(ts: Sequence[float], ys: Sequence[float], k: int) -> tuple[list[float], list[float]]:
    """The series' rolling minimum over k samples, at the times whose window is full."""
    if k <= 1 or len(ys) < k:
        return list(ts), list(ys)
    return list(ts[k - 1 :]), [min(ys[i - k + 1 : i + 1]) for i in range(k - 1, len(ys))]


def per_process_floor_slope(samples: Sequence[Sample], k: int) -> float:
    """Growth of memory per hour: the sum over processes of the slope of each one's floor.

    Each worker's collector swings it by tens of MiB at its own moments, so
    the total's floor still moves with whichever peaked last; each process's
    own floor does not. A process seen in fewer than half the samples (a
    restarted worker) is left out of the sum.
    """
    out = 0.0
    for pid in {p for s in samples for p in s.rss_by_pid}:
        mine = [(s.t_s, s.rss_by_pid[pid]) for s in samples if pid in s.rss_by_pid]
        if 2 * len(mine) < len(samples):
            continue
        ts, ys = floor_of([t for t, _ in mine], [y for _, y in mine], k)
        out += slope_per_hour(ts, ys)
    return out


def judge(
    samples: Sequence[Sample], vms: int, min_window_s: float = MIN_WINDOW_S
) -> list[Judgement]:
    """Each metric's slope over the settled half against its bound (see the module docstring)."""
    out = []
    settled = list(samples[len(samples) // 2 :])
    ts = [s.t_s for s in settled]
    window = ts[-1] - ts[0] if len(ts) > 1 else 0.0

    def ends(metric: str) -> tuple[float, float]:
        if not samples:
            return 0.0, 0.0
        return float(getattr(samples[0], metric)), float(getattr(samples[-1], metric))

    for b in BOUNDS:
        if b.metric == "rss_mib" and all(s.rss_by_pid for s in settled):
            per_h = round(per_process_floor_slope(settled, b.floor), 3)
        else:
            fts, ys = floor_of(ts, [float(getattr(s, b.metric)) for s in settled], b.floor)
            per_h = round(slope_per_hour(fts, ys), 3)
        long_enough = window >= min_window_s
        why = (
            b.why
            if long_enough
            else f"not judged: settled window {window:.0f}s < {min_window_s:.0f}s"
        )
        out.append(
            Judgement(
                b.metric,
                *ends(b.metric),
                per_h,
                b.per_hour,
                b.unit,
                per_h <= b.per_hour or not long_enough,
                long_enough,
                why,
            )
        )
    boots = [float(s.boots) for s in settled]
    per_boot = round(slope(boots, [float(s.fds) for s in settled]), 3)
    out.append(
        Judgement(
            "fds",
            *ends("fds"),
            per_boot,
            FDS_PER_BOOT.per_hour,
            FDS_PER_BOOT.unit,
            per_boot <= FDS_PER_BOOT.per_hour,
            True,
            FDS_PER_BOOT.why,
        )
    )
    most = max((s.domains for s in samples), default=0)
    out.append(
        Judgement(
            "domains",
            0.0,
            float(most),
            float(most),
            float(vms),
            "domains",
            most <= vms,
            True,
            "running domains of the campaign at most the VMs asked for",
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


def _boots(camp: Campaign) -> int:
    total = 0
    for slot in range(camp.opts.vms):
        try:
            total += int(json.loads((camp.dir.worker(slot) / "stats.json").read_text())["boots"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return total


def sample(camp: Campaign, t_s: float, domains: Callable[[], int]) -> Sample:
    pids = [os.getpid(), *_children(os.getpid())]
    rss = {str(p): round(_rss_kib(p) / 1024, 1) for p in pids}
    home = camp.home.root
    db = [p for p in (home / "crashes.db",) if p.exists()]
    journal = [p for p in (home / "crashes.db-wal",) if p.exists()]
    return Sample(
        t_s=round(t_s, 1),
        boots=_boots(camp),
        rss_mib=round(sum(rss.values()), 1),
        fds=sum(_fds(p) for p in pids),
        processes=len(pids),
        domains=domains(),
        disk_mib=round(_size([camp.dir.path, home / "crashes", *db, *journal]) / MIB, 2),
        # The WAL is a journal SQLite checkpoints at about 4 MiB: not the store's size.
        store_mib=round(_size(db) / MIB, 3),
        rss_by_pid=rss,
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
