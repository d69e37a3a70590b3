"""What a report shows, gathered from a campaign's directory and the crash store; no HTML here.

A report is about one campaign, given by name or directory, or about one
nightly run (the store's `runs` table), which names its campaign and adds
the run's verdicts, its history and the previous run of the same config.

Everything is read, nothing written, and everything the guest produced goes
through `rig.report.text` (bounded, controls made visible) before it is kept.
A campaign still running is read as it stands: its workers' files are
rewritten atomically, so each read sees a whole file.
"""

from __future__ import annotations

import json
import logging
import re
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rig.campaign.directory import CampaignDir, read_json
from rig.config import Home
from rig.crash.store import Bucket, Crash, CrashStore, Run, RunVerdict
from rig.errors import ConfigError
from rig.report.coverage import ModuleCoverage, image_manifest, module_coverage
from rig.report.plots import Chart, thin
from rig.report.text import Excerpt, excerpt, visible, visible_line

log = logging.getLogger(__name__)

# Bounds on what one report embeds: a console log can be 16 MiB and a program
# log a quarter of one; the rest stays on disk, and the page says so.
REPORT_CAP: Final = 64 * 1024
CONSOLE_TAIL: Final = 32 * 1024
PROGRAMS_TAIL: Final = 32 * 1024
REPRO_CAP: Final = 64 * 1024
BISECT_CAP: Final = 256 * 1024
SERIES_TAIL: Final = 16 * 1024 * 1024  # of timeseries.jsonl: days of a campaign
EDGES_CAP: Final = 64 * 1024 * 1024  # of one worker's edges.bin
MAX_DETAILS: Final = 100  # buckets with a section of their own
MAX_HISTORY: Final = 30  # runs in a bucket's history

CAMPAIGN_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


@dataclass(frozen=True)
class Subject:
    """What a report is about: a campaign directory, and the run it belongs to if any."""

    campaign: Path
    run: Run | None = None

    @property
    def name(self) -> str:
        return self.campaign.name


@dataclass(frozen=True)
class Header:
    title: str
    driver: str
    module: str
    params: str
    image: str
    kernel: str
    started: float | None
    ended: float | None
    status: str
    elapsed_s: float
    execs: int
    edges: int
    buckets: int
    abis: str
    engine: str
    config: str = ""  # a run's
    driver_rev: str = ""  # a run's
    error: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class BucketRow:
    id: str
    title: str
    kind: str
    count: int  # crashes in this campaign
    total: int  # crashes ever
    first_found_s: float | None
    verdict: str  # "—" without a run
    repro: str  # "k/n" or "—"
    repro_state: str


@dataclass(frozen=True)
class HistoryRow:
    run_id: int
    started: float
    verdict: str
    seen: int
    repro: str
    this: bool


@dataclass(frozen=True)
class BucketDetail:
    row: BucketRow
    crash: str  # which crash is shown, in a sentence
    report: Excerpt | None
    console: Excerpt | None
    programs: Excerpt | None
    repro_prog: Excerpt | None
    repro_c: Excerpt | None
    repro_md: Excerpt | None
    history: tuple[HistoryRow, ...]
    history_note: str
    bisect: str | None  # pretty-printed JSON, or the file as text if it is not JSON
    bisect_note: str = ""


@dataclass(frozen=True)
class BucketRef:
    id: str
    title: str


@dataclass(frozen=True)
class Comparison:
    previous: Run
    new: tuple[BucketRef, ...]
    gone: tuple[BucketRef, ...]
    edges_delta: int
    execs_delta: int
    buckets_delta: int


@dataclass(frozen=True)
class ReportData:
    subject: Subject
    header: Header
    charts: tuple[Chart, ...]
    charts_note: str
    buckets: tuple[BucketRow, ...]
    details: tuple[BucketDetail, ...]
    details_note: str
    coverage: ModuleCoverage | None
    coverage_note: str
    comparison: Comparison | None
    comparison_note: str
    generated: float = field(default_factory=time.time)

    @property
    def live(self) -> bool:
        return self.header.status in ("running", "new")


# --- finding the subject ------------------------------------------------------------------


def resolve(home: Home, what: str, store: CrashStore | None) -> Subject:
    """A run id (digits), a campaign directory, or a campaign's name under the home."""
    text = what.strip()
    if text.isdigit():
        if store is None:
            raise ConfigError(f"no run {text}: {home.crash_db} does not exist")
        run = store.run(int(text))
        if run is None:
            raise ConfigError(f"no run {text} in {store.db_path} (`rig report` takes a run id)")
        return Subject(run_campaign(home, run), run)
    path = Path(text)
    if path.is_dir() and (path / "campaign.json").exists():
        return Subject(path.resolve(), None)
    if CAMPAIGN_NAME.fullmatch(text) and CampaignDir(home.campaign(text)).exists():
        return Subject(home.campaign(text), None)
    raise ConfigError(
        f"{what!r} is neither a run id nor a campaign: give a run id, a campaign directory "
        f"or the name of one under {home.campaigns}"
    )


def run_campaign(home: Home, run: Run) -> Path:
    """A run's campaign directory: the store names it by directory or by name under the home."""
    p = Path(run.campaign)
    return p if p.is_absolute() else home.campaign(run.campaign)


def campaign_subject(home: Home, name: str) -> Subject | None:
    """A campaign under the home by its name alone (what a URL may name); None if there is none."""
    if not CAMPAIGN_NAME.fullmatch(name) or ".." in name:
        return None
    path = home.campaign(name)
    return Subject(path) if CampaignDir(path).exists() else None


# --- gathering --------------------------------------------------------------------------


def gather(home: Home, subject: Subject, store: CrashStore | None) -> ReportData:
    camp = CampaignDir(subject.campaign)
    state = _json(camp.state_file)
    summary = _json(camp.path / "summary.json")
    edges = campaign_edges(camp.path)
    run = subject.run
    image_id = (run.image if run else "") or str(summary.get("image") or "") or _current(camp)
    manifest = image_manifest(home.root, image_id)
    verdicts = {v.bucket_id: v for v in store.run_verdicts(run.id)} if store and run else {}
    rows = _bucket_rows(subject, state, summary, store, verdicts)
    header = _header(
        subject, state, summary, edges, manifest, image_id, sum(1 for r in rows if r.count)
    )
    details: tuple[BucketDetail, ...] = ()
    if store is not None:
        past = _past_runs(store, run)
        details = tuple(_detail(subject, row, store, past) for row in rows[:MAX_DETAILS])
    details_note = (
        f"the first {MAX_DETAILS} of {len(rows)} buckets have a section below"
        if len(rows) > MAX_DETAILS
        else ""
    )
    charts = _charts(read_series(camp.path / "timeseries.jsonl"))
    cov, cov_note = _coverage(home, state, manifest, image_id, edges)
    comparison, comparison_note = _comparison(home, run, store)
    return ReportData(
        subject=subject,
        header=header,
        charts=charts,
        charts_note="" if charts else "no progress recorded yet (timeseries.jsonl is empty)",
        buckets=tuple(rows),
        details=details,
        details_note=details_note,
        coverage=cov,
        coverage_note=cov_note,
        comparison=comparison,
        comparison_note=comparison_note,
    )


def _coverage(
    home: Home, state: dict[str, Any], manifest: dict[str, Any], image_id: str, edges: set[int]
) -> tuple[ModuleCoverage | None, str]:
    module = manifest.get("module") if isinstance(manifest.get("module"), dict) else {}
    assert isinstance(module, dict)
    name = str(module.get("name") or "") or _module_option(state)
    if not name:
        return None, "the campaign's module is unknown (its image and manifest are gone)"
    if module and not module.get("coverage"):
        return None, f"image {image_id} was built without coverage (--no-coverage)"
    got = module_coverage(home.root, {e & 0xFFFFFFFF for e in edges}, image_id, name)
    if isinstance(got, str):
        return None, got
    if not got.pcs:
        return got, "no PC recorded yet (workers write edges.bin every few seconds)"
    return got, ""


def _json(path: Path) -> dict[str, Any]:
    data = read_json(path)
    return data if isinstance(data, dict) else {}


def _current(camp: CampaignDir) -> str:
    try:
        return camp.current_image()
    except OSError:
        return ""


def _module_option(state: dict[str, Any]) -> str:
    opts = state.get("options")
    return str(opts.get("module") or "") if isinstance(opts, dict) else ""


def _worker_stats(campaign: Path) -> Iterator[dict[str, Any]]:
    """Each worker's stats.json, as a running campaign's parent reads them."""
    try:
        slots = sorted(d for d in (campaign / "workers").iterdir() if d.name.isdigit())
    except OSError:
        return
    for d in slots:
        stats = read_json(d / "stats.json")
        if isinstance(stats, dict):
            yield stats


def campaign_edges(campaign: Path) -> set[int]:
    """The union of every worker's coverage edges."""
    edges: set[int] = set()
    try:
        slots = [d for d in (campaign / "workers").iterdir() if d.name.isdigit()]
    except OSError:
        return edges
    for d in slots:
        try:
            with (d / "edges.bin").open("rb") as f:
                data = f.read(EDGES_CAP)
        except OSError:
            continue
        a = array("Q")
        a.frombytes(data[: len(data) - len(data) % 8])
        edges.update(a)
    return edges


def _header(
    subject: Subject,
    state: dict[str, Any],
    summary: dict[str, Any],
    edges: set[int],
    manifest: dict[str, Any],
    image_id: str,
    buckets: int,
) -> Header:
    opts = state.get("options") if isinstance(state.get("options"), dict) else {}
    assert isinstance(opts, dict)
    status = campaign_status(subject.campaign, state, summary)
    # A running campaign's figures are its workers'; an ended one's, its summary's.
    execs = int(summary.get("execs") or 0)
    live_execs = sum(int(w.get("execs") or 0) for w in _worker_stats(subject.campaign))
    if status == "running" or not summary:
        execs = max(execs, live_execs)
    module = manifest.get("module", {}) if isinstance(manifest.get("module"), dict) else {}
    kernel = manifest.get("kernel", {}) if isinstance(manifest.get("kernel"), dict) else {}
    kernel_text = " ".join(
        str(x) for x in (kernel.get("version"), kernel.get("package_version")) if x
    )
    started = _float(state.get("created"))
    ended: float | None = None
    if status not in ("running", "new"):
        ended = _mtime(subject.campaign / "summary.json")
    run = subject.run
    title = f"campaign {subject.name}"
    if run is not None:
        title = f"run {run.id} ({visible_line(run.config)})"
        started = run.started
        ended = run.ended if run.ended is not None else ended
        kernel_text = kernel_text or run.kernel
        if run.ended is not None:
            status = run.status
            execs = run.execs or execs
    abis = opts.get("abis")
    return Header(
        title=title,
        driver=visible_line(str(opts.get("driver") or module.get("driver_dir") or "?")),
        module=visible_line(str(module.get("name") or opts.get("module") or "?")),
        params=visible_line(" ".join(module.get("params") or []) or str(opts.get("params") or "")),
        image=visible_line(image_id or "?"),
        kernel=visible_line(kernel_text or "?"),
        started=started,
        ended=ended,
        status=visible_line(status),
        elapsed_s=float(summary.get("elapsed_s") or state.get("elapsed_s") or 0.0),
        execs=execs,
        edges=(run.edges if run and run.ended is not None and run.edges else len(edges)),
        buckets=buckets,
        abis=", ".join(f"{a}-bit" for a in abis) if isinstance(abis, list) else "64-bit",
        engine=visible_line(str(opts.get("engine") or "?")),
        config=visible_line(run.config) if run else "",
        driver_rev=visible_line(run.driver_rev) if run else "",
        error=visible(str(summary.get("error") or state.get("error") or ""))[:2000],
        warnings=tuple(visible(str(w))[:2000] for w in summary.get("warnings") or [])[:20],
    )


STALE_S: Final = 120.0  # a running campaign touches its files every few seconds


def campaign_status(campaign: Path, state: dict[str, Any], summary: dict[str, Any]) -> str:
    """running, or how it ended; "interrupted" when it says running but nothing moved for
    STALE_S (its parent was killed before it could say so)."""
    status = str(state.get("status") or ("finished" if summary else "unknown"))
    if status != "running":
        return str(summary.get("ended") or status)
    files = [campaign / "campaign.json", campaign / "timeseries.jsonl"]
    files += list(campaign.glob("workers/*/stats.json"))
    newest = max((_mtime(f) or 0.0 for f in files), default=0.0)
    return "running" if time.time() - newest < STALE_S else "interrupted"


def _float(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) else None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


# --- progress over time -----------------------------------------------------------------


def read_series(path: Path, cap: int = SERIES_TAIL) -> list[dict[str, float]]:
    """The records of timeseries.jsonl (its last `cap` bytes), bad lines skipped."""
    ex = excerpt(path, cap, tail=True)
    if ex is None:
        return []
    out: list[dict[str, float]] = []
    for line in ex.text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("elapsed_s"), int | float):
            out.append({k: float(v) for k, v in rec.items() if isinstance(v, int | float)})
    return out


def _charts(points: list[dict[str, float]]) -> tuple[Chart, ...]:
    if not points:
        return ()
    charts = []
    for key, title, label in (
        ("execs_per_s", "Executions per second", "executions/s"),
        ("edges", "Coverage edges", "edges"),
        ("buckets", "Crash buckets", "buckets"),
    ):
        series = tuple((p["elapsed_s"], p.get(key, 0.0)) for p in points)
        charts.append(Chart(title, label, tuple(thin(series))))
    return tuple(charts)


# --- buckets ------------------------------------------------------------------------------


def _crash_campaign(subject: Subject) -> str:
    """The name crashes of this campaign carry in the store."""
    return subject.campaign.name


def _bucket_rows(
    subject: Subject,
    state: dict[str, Any],
    summary: dict[str, Any],
    store: CrashStore | None,
    verdicts: dict[str, RunVerdict],
) -> list[BucketRow]:
    if store is None:
        return []
    name = _crash_campaign(subject)
    seen = {b.id: b for b in store.campaign_buckets(name)}
    found: dict[str, float] = {}
    for b in summary.get("buckets") or []:
        if isinstance(b, dict) and isinstance(b.get("first_found_s"), int | float):
            found[str(b.get("id"))] = float(b["first_found_s"])
    created = _float(state.get("created"))
    all_buckets = {b.id: b for b in store.buckets()}
    ids = list(seen) + [bid for bid in verdicts if bid not in seen]
    rows = []
    for bid in ids:
        b = all_buckets.get(bid)
        if b is None:
            continue
        cb = seen.get(bid)
        first = found.get(bid)
        if first is None and cb is not None and created is not None:
            # Not in a summary yet (a running campaign): from its first crash, exact
            # unless the campaign was resumed (its pauses are not campaign time).
            first = round(max(0.0, cb.first_seen - created), 1)
        v = verdicts.get(bid)
        if v is not None and v.repro_tries:
            repro = f"{v.repro_ok}/{v.repro_tries}"
        elif b.repro.tries:
            repro = f"{b.repro.ok}/{b.repro.tries}"
        else:
            repro = "—"
        rows.append(
            BucketRow(
                id=bid,
                title=visible_line(b.title),
                kind=visible_line(b.kind),
                count=cb.count if cb else (v.seen if v else 0),
                total=b.count,
                first_found_s=first,
                verdict=v.verdict if v else "—",
                repro=repro,
                repro_state=b.repro.state,
            )
        )
    return rows


def _shown_crash(bucket: Bucket, campaign: str) -> tuple[Crash | None, str]:
    """The newest crash of the bucket this campaign recorded whose files are kept, else any."""
    kept = [c for c in bucket.crashes if c.kept]
    ours = [c for c in kept if c.campaign == campaign]
    crash = next(iter(ours or kept), None)
    if crash is None:
        return None, "no crash of this bucket has its files kept (newer crashes replaced them)"
    where = "" if crash.campaign == campaign else f" of campaign {visible_line(crash.campaign)}"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(crash.time))
    flags = "".join(
        f", {w}" for w, on in (("corrupted", crash.corrupted), ("truncated", crash.truncated)) if on
    )
    return crash, (f"crash #{crash.seq}{where} on {visible_line(crash.vm)} at {when}{flags}")


def _inside(path: Path | None, root: Path) -> Path | None:
    """`path` if it lies under `root` by name (the store's rows are not trusted to)."""
    if path is None:
        return None
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return None if ".." in path.parts else path


def _detail(subject: Subject, row: BucketRow, store: CrashStore, past: PastRuns) -> BucketDetail:
    bucket = store.bucket(row.id)
    crash, crash_note = (None, "the bucket is gone from the store")
    if bucket is not None:
        crash, crash_note = _shown_crash(bucket, _crash_campaign(subject))
    bdir = store.dir / row.id
    report = console = programs = None
    if crash is not None:
        r = _inside(crash.report_file, store.dir)
        c = _inside(crash.console_log, store.dir)
        p = _inside(crash.program_log, store.dir)
        report = excerpt(r, REPORT_CAP) if r else None
        console = excerpt(c, CONSOLE_TAIL, tail=True) if c else None
        programs = excerpt(p, PROGRAMS_TAIL, tail=True) if p else None
    history, history_note = _history(past, subject.run, row.id)
    bisect, bisect_note = _bisect(bdir / "bisect.json")
    return BucketDetail(
        row=row,
        crash=crash_note,
        report=report,
        console=console,
        programs=programs,
        repro_prog=excerpt(bdir / "repro.prog", REPRO_CAP),
        repro_c=excerpt(bdir / "repro.c", REPRO_CAP),
        repro_md=excerpt(bdir / "repro.md", REPRO_CAP),
        history=history,
        history_note=history_note,
        bisect=bisect,
        bisect_note=bisect_note,
    )


PastRuns = list[tuple[Run, dict[str, RunVerdict]]]


def _past_runs(store: CrashStore, run: Run | None) -> PastRuns:
    """The newest runs of the run's config (of any config, for a campaign), with their verdicts."""
    runs = (store.runs(run.config) if run is not None else store.runs())[-MAX_HISTORY:]
    return [(r, {v.bucket_id: v for v in store.run_verdicts(r.id)}) for r in runs]


def _history(past: PastRuns, run: Run | None, bucket_id: str) -> tuple[tuple[HistoryRow, ...], str]:
    """The bucket's verdict and k/n in each of `past` that judged it."""
    rows = []
    for r, verdicts in past:
        v = verdicts.get(bucket_id)
        if v is None:
            continue
        repro = f"{v.repro_ok}/{v.repro_tries}" if v.repro_tries else "—"
        this = run is not None and r.id == run.id
        rows.append(HistoryRow(r.id, r.started, v.verdict, v.seen, repro, this))
    if rows:
        return tuple(rows), ""
    if run is not None:
        return (), f"no run of config {visible_line(run.config)} judged this bucket yet"
    return (), "no nightly run judged this bucket"


def _bisect(path: Path) -> tuple[str | None, str]:
    ex = excerpt(path, BISECT_CAP)
    if ex is None:
        return None, ""
    if ex.truncated:
        return ex.text, ex.note()
    try:
        # Re-encoded with ensure_ascii, so nothing but printable ASCII reaches the page.
        return json.dumps(json.loads(ex.text), indent=2, sort_keys=True), ""
    except ValueError:
        return ex.text, "bisect.json is not valid JSON; shown as it is"


# --- the previous run ---------------------------------------------------------------------


def _comparison(
    home: Home, run: Run | None, store: CrashStore | None
) -> tuple[Comparison | None, str]:
    if run is None or store is None:
        return None, ""
    earlier = [r for r in store.runs(run.config) if r.id < run.id]
    if not earlier:
        return None, f"the first run of config {visible_line(run.config)}"
    prev = earlier[-1]
    now_seen = _seen(home, store, run)
    then_seen = _seen(home, store, prev)
    titles = {b.id: b.title for b in store.buckets()}

    def refs(ids: set[str]) -> tuple[BucketRef, ...]:
        return tuple(
            BucketRef(i, visible_line(titles.get(i, "?")))
            for i in sorted(ids, key=lambda i: titles.get(i, ""))
        )

    return (
        Comparison(
            previous=prev,
            new=refs(now_seen - then_seen),
            gone=refs(then_seen - now_seen),
            edges_delta=run.edges - prev.edges,
            execs_delta=run.execs - prev.execs,
            buckets_delta=len(now_seen) - len(then_seen),
        ),
        "",
    )


def _seen(home: Home, store: CrashStore, run: Run) -> set[str]:
    """Buckets a run saw: its verdicts once it has them, its campaign's crashes until then."""
    verdicts = store.run_verdicts(run.id)
    if verdicts:
        return {v.bucket_id for v in verdicts if v.seen}
    return set(store.bucket_counts(run_campaign(home, run).name))


# --- the index of a home ------------------------------------------------------------------

MAX_INDEX: Final = 500  # campaigns (and runs) listed on the index, newest first


@dataclass(frozen=True)
class CampaignRow:
    name: str
    started: float | None
    status: str
    module: str
    engine: str
    execs: int
    edges: int
    buckets: int


def campaign_rows(home: Home) -> tuple[list[CampaignRow], str]:
    """The home's campaigns, newest first, from their small files only (no edges, no store)."""
    try:
        dirs = [d for d in home.campaigns.iterdir() if CAMPAIGN_NAME.fullmatch(d.name)]
    except OSError:
        return [], ""
    camps = [CampaignDir(d) for d in dirs if CampaignDir(d).exists()]
    rows = []
    for camp in camps:
        state = _json(camp.state_file)
        summary = _json(camp.path / "summary.json")
        opts = state.get("options") if isinstance(state.get("options"), dict) else {}
        assert isinstance(opts, dict)
        image = str(summary.get("image") or "") or _current(camp)
        module = image_manifest(home.root, image).get("module")
        name = module.get("name") if isinstance(module, dict) else None
        status = campaign_status(camp.path, state, summary)
        latest = summary if status != "running" and summary else _last_series(camp.path)
        buckets = summary.get("buckets") if status != "running" else None
        rows.append(
            CampaignRow(
                name=camp.name,
                started=_float(state.get("created")),
                status=visible_line(status),
                module=visible_line(str(name or opts.get("module") or "?")),
                engine=visible_line(str(opts.get("engine") or "?")),
                execs=int(latest.get("execs") or 0),
                edges=int(latest.get("edges") or 0),
                buckets=len(buckets)
                if isinstance(buckets, list)
                else int(latest.get("buckets") or 0),
            )
        )
    rows.sort(key=lambda r: r.started or 0.0, reverse=True)
    note = f"the newest {MAX_INDEX} of {len(rows)} campaigns" if len(rows) > MAX_INDEX else ""
    return rows[:MAX_INDEX], note


def _last_series(campaign: Path) -> dict[str, float]:
    points = read_series(campaign / "timeseries.jsonl", cap=4096)
    return points[-1] if points else {}
