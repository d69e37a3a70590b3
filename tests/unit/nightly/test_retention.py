"""Thirty nights in a row: the home stops growing once retention applies."""

from __future__ import annotations

import os
from pathlib import Path

from rig.config import Home
from rig.crash.parse import parse_first
from rig.crash.store import CrashStore, RunVerdict
from rig.nightly import config as nconfig
from rig.nightly.retention import prune

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"


def _size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def _night(
    home: Home, cfg: nconfig.NightlyConfig, n: int, reports: list[tuple[object, str]]
) -> None:
    camp = f"nightly-{n:02d}"
    cdir = home.campaign(camp)
    (cdir / "workers" / "0" / "corpus").mkdir(parents=True)
    (cdir / "workers" / "0" / "corpus" / "big").write_bytes(os.urandom(64 << 10))
    (cdir / "timeseries.jsonl").write_text("{}\n" * 100)
    with CrashStore.open(home.root) as store:
        run = store.start_run(cfg.name, cfg.hash, f"rev{n}", "img", "6.1", camp)
        for report, log in reports:
            for _ in range(6):  # every night crashes each bucket a few times
                store.record(report, log.encode(), b"prog\n", campaign=camp, vm="vm0")  # type: ignore[arg-type]
        ids = sorted(store.bucket_counts(camp))
        store.finish_run(
            run.id, "finished", 10, 1, [RunVerdict(run.id, b, "still", 6) for b in ids]
        )
    out = cfg.output_dir / cfg.name / str(run.id)
    out.mkdir(parents=True)
    (out / "report.html").write_bytes(os.urandom(16 << 10))
    prune(home, cfg)


def test_thirty_nights_stay_bounded(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    path = tmp_path / "n.toml"
    path.write_text(
        nconfig.EXAMPLE.replace("runs = 30 ", "runs = 5 ").replace('dir = "nightly"', 'dir = "out"')
    )
    cfg = nconfig.load(path)
    assert cfg.retention.runs == 5
    reports = []
    for name in ("1", "2", "3"):
        text = (GOLDEN / name).read_text(errors="replace")
        report = parse_first(text)
        assert report is not None
        reports.append((report, text))
    sizes = []
    for n in range(30):
        _night(home, cfg, n, reports)
        sizes.append(_size(home.root) + _size(tmp_path / "out"))
    assert sizes[29] <= sizes[9] * 1.1, sizes
    assert len(list(home.campaigns.iterdir())) == 5
    assert len(list((tmp_path / "out" / cfg.name).iterdir())) == 5
    with CrashStore.open(home.root) as store:
        assert len(store.runs(cfg.name)) == 30, "runs and verdicts stay for later verdicts"
        for b in store.buckets():
            assert b.count == 30 * 6
            assert len(b.crashes) <= store.ring + 1
            assert (home.root / "crashes" / b.id / "first-report").is_file()
