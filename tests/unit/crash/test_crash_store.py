"""The crash store: rings of files, concurrent writers, kills mid-write, bad files, hostile titles."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from rig.crash import casefile
from rig.crash.kinds import Kind
from rig.crash.parse import Report, parse
from rig.crash.store import CrashStore, ReproStatus
from rig.errors import ConfigError, RigBug

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"
ROOT = Path(__file__).resolve().parents[3]


def golden(name: str) -> tuple[Report, bytes]:
    log = casefile.load(GOLDEN / name, keep_cr=True).log
    return parse(log)[0], log


def check_consistent(store: CrashStore) -> int:
    """Every crash still in its ring has its own files; returns the number of crashes."""
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    total = 0
    for summary in store.buckets():
        b = store.bucket(summary.id)
        assert b is not None
        assert [c.seq for c in b.crashes] == list(range(b.count - 1, -1, -1))
        assert (b.directory / "description").read_text().strip() == b.title
        for c in b.crashes:
            if c.kept:
                data = c.console_log.read_bytes()
                assert hashlib.sha256(data).hexdigest() == c.log_sha256, c
                assert c.report_file.exists()
        total += b.count
    assert total == store.crash_count()
    return total


def test_record_ring_and_repro_status(tmp_path: Path) -> None:
    report, log = golden("13")
    with CrashStore.open(tmp_path, ring=3) as store:
        results = [
            store.record(
                report,
                log + str(i).encode(),
                b"open$boundary()\nioctl$xfer()\n",
                campaign="c",
                vm=f"vm{i % 2}",
                manifest={"kernel": "6.1.0-27-amd64", "module_sha256": "ab" * 32},
            )
            for i in range(5)
        ]
        assert [r.new_bucket for r in results] == [True, False, False, False, False]
        assert [r.count for r in results] == [1, 2, 3, 4, 5]
        bid = results[0].bucket_id
        assert len({r.bucket_id for r in results}) == 1
        b = store.bucket(bid)
        assert b is not None and b.count == 5 and b.kind == "null-deref"
        assert b.title == report.title
        names = sorted(p.name for p in b.directory.iterdir())
        assert names == [
            "description", "first-log", "first-report", "log0", "log1", "log2",
            "prog0", "prog1", "prog2", "report0", "report1", "report2",
        ]  # fmt: skip
        first = (tmp_path / "crashes" / b.id / "first-report").read_text()
        assert first == report.text, "the first crash's report outlives the ring"
        kept = [c.seq for c in b.crashes if c.kept]
        assert kept == [4, 3, 2]
        newest = b.crashes[0]
        assert newest.console_log.read_bytes() == log + b"4"
        assert newest.report_file.read_text() == report.text
        assert newest.program_log is not None and b"ioctl$xfer" in newest.program_log.read_bytes()
        assert newest.manifest["kernel"] == "6.1.0-27-amd64"
        store.set_repro_status(bid[:6], ReproStatus("reproduced", 2, 3))
        assert str(store.buckets()[0].repro) == "reproduced 2/3"
        check_consistent(store)


def test_programs_from_files(tmp_path: Path) -> None:
    report, log = golden("11")
    progs = [tmp_path / "p1.prog", tmp_path / "p2.prog"]
    progs[0].write_text("open$boundary()\n")
    progs[1].write_text("write$inject()\n")
    with CrashStore.open(tmp_path / "home") as store:
        r = store.record(report, log, progs, campaign="c", vm="v")
        b = store.bucket(r.bucket_id)
        assert b is not None and b.crashes[0].program_log is not None
        data = b.crashes[0].program_log.read_text()
        assert "p1.prog" in data and "write$inject()" in data


def test_verdicts(tmp_path: Path) -> None:
    with CrashStore.open(tmp_path) as store:
        a = store.record_verdict(Kind.NO_OUTPUT, b"tail", None, "c", "v", detail="45 s")
        b = store.record_verdict(Kind.LOST_CONNECTION, b"", None, "c", "v")
        c = store.record_verdict(Kind.NO_OUTPUT, b"other", None, "c", "w")
        assert a.bucket_id == c.bucket_id != b.bucket_id
        titles = {x.title for x in store.buckets()}
        assert titles == {"no output from test machine", "lost connection to test machine"}
        with pytest.raises(RigBug):
            store.record_verdict(Kind.WARNING, b"", None, "c", "v")


def test_hostile_titles_stay_inside_the_crash_directory(tmp_path: Path) -> None:
    report, log = golden("11")
    home = tmp_path / "home"
    hostile = [
        "../../../../etc/passwd",
        "/absolute/path in ../..",
        "<script>alert(1)</script> in $(rm -rf ~) `id` ; | & > out",
        "[bold red]markup[/] in \x1b[2J\x07evil",
        "",
    ]
    with CrashStore.open(home) as store:
        for t in hostile:
            store.record(replace(report, title=t), log, None, "../c", "v/../../x")
        for b in store.buckets():
            assert b.directory.parent == home / "crashes"
            assert len(b.directory.name) == 16
            assert "\x1b" not in b.title and "\x07" not in b.title
        check_consistent(store)
        assert store.bucket("../etc") is None
    outside = [p for p in tmp_path.rglob("*") if home not in (p, *p.parents)]
    assert outside == []


def test_a_manifest_is_kept_once_however_many_crashes_share_it(tmp_path: Path) -> None:
    report, log = golden("13")
    images = [
        {"image_id": f"img{i}", "kernel": "6.1.0-27-amd64", "pad": "x" * 2000} for i in (1, 2)
    ]
    with CrashStore.open(tmp_path) as store:
        for i in range(40):
            store.record(report, log, None, campaign="c", vm="vm0", manifest=images[i % 2])
        assert store._conn.execute("SELECT count(*) FROM manifests").fetchone()[0] == 2
        assert store.image_ids() == {"img1", "img2"}
        b = store.bucket(store.buckets()[0].id)
        assert b is not None
        assert [c.manifest["image_id"] for c in b.crashes[:2]] == ["img2", "img1"]


def test_a_schema_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    report, log = golden("13")
    manifest = {"image_id": "img1", "kernel": "6.1.0-27-amd64"}
    with CrashStore.open(tmp_path) as store:
        for _ in range(3):
            store.record(report, log, None, campaign="c", vm="vm0", manifest=manifest)
    # Turn it back into what rig wrote before schema 2: manifests inline in rows.
    with sqlite3.connect(tmp_path / "crashes.db") as db:
        db.execute(
            "UPDATE crashes SET manifest ="
            " (SELECT body FROM manifests WHERE sha256 = crashes.manifest)"
        )
        db.execute("DROP TABLE manifests")
        db.execute("DROP TABLE run_verdicts")
        db.execute("DROP TABLE runs")
        db.execute("ALTER TABLE crashes DROP COLUMN host")
        db.execute("PRAGMA user_version = 1")
    with CrashStore.open(tmp_path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert store.image_ids() == {"img1"}
        b = store.bucket(store.buckets()[0].id)
        assert b is not None
        assert [c.manifest for c in b.crashes] == [manifest] * 3
        store.record(report, log, None, campaign="c", vm="vm0", manifest=manifest)
        assert check_consistent(store) == 4
        assert store._conn.execute("SELECT count(*) FROM manifests").fetchone()[0] == 1


def test_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "crashes.db").write_bytes(b"this is not sqlite at all\n" * 100)
    with pytest.raises(ConfigError, match=str(tmp_path / "crashes.db")):
        CrashStore.open(tmp_path)


def test_a_database_of_something_else(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "crashes.db")
    db.execute("CREATE TABLE songs (title TEXT)")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="not a rig crash store"):
        CrashStore.open(tmp_path)


def test_a_store_from_a_newer_rig(tmp_path: Path) -> None:
    CrashStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / "crashes.db")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer rig"):
        CrashStore.open(tmp_path)


WRITER = """
import sys
from pathlib import Path
from rig.crash import casefile
from rig.crash.parse import parse
from rig.crash.store import CrashStore
home, tag, count, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
reports = [parse(casefile.load(Path(sys.argv[5]) / n, keep_cr=True).log)[0] for n in "13 9 11".split()]
store = CrashStore.open(home, ring=4)
i = 0
while count < 0 or i < count:
    log = (f"{tag} {i} ".encode() * (size // 8 + 1))[:size]
    store.record(reports[i % 3], log, log[:100], campaign=tag, vm=f"vm{i % 2}")
    i += 1
"""


def _writer(home: Path, tag: str, count: int, size: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), tag, str(count), str(size), str(GOLDEN)],
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_two_campaigns_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    procs = [_writer(tmp_path, tag, 30, 4096) for tag in ("alpha", "beta")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    with CrashStore.open(tmp_path, ring=4) as store:
        assert check_consistent(store) == 60
        campaigns = store._conn.execute(
            "SELECT campaign, count(*) FROM crashes GROUP BY campaign"
        ).fetchall()
        assert dict(campaigns) == {"alpha": 30, "beta": 30}
        assert sorted(b.count for b in store.buckets()) == [20, 20, 20]


def test_killed_between_commit_and_rename_is_finished_on_open(tmp_path: Path) -> None:
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom rig.crash import casefile\n"
        "from rig.crash.parse import parse\nfrom rig.crash.store import CrashStore\n"
        "s = CrashStore.open(Path(sys.argv[1]), ring=2)\n"
        "r = parse(casefile.load(Path(sys.argv[2]), keep_cr=True).log)[0]\n"
        "s.record(r, b'first', None, 'c', 'v')\n"
        "s._finish = lambda crash_id: os.kill(os.getpid(), 9)\n"
        "s.record(r, b'second', None, 'c', 'v')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(GOLDEN / "9")], env=env, check=False
    )
    assert proc.returncode == -signal.SIGKILL
    assert len(list(tmp_path.glob("crashes/*/.tmp-*"))) >= 2  # the second crash's files
    with CrashStore.open(tmp_path, ring=2) as store:
        assert check_consistent(store) == 2
        (b,) = store.buckets()
        full = store.bucket(b.id)
        assert full is not None and full.crashes[0].console_log.read_bytes() == b"second"
    assert not list(tmp_path.glob("crashes/*/.tmp-*"))


def test_sigkill_at_random_moments_leaves_every_committed_crash(tmp_path: Path) -> None:
    for delay in (0.6, 0.9, 1.3):
        proc = _writer(tmp_path, "k", -1, 2 * 1024 * 1024)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with CrashStore.open(tmp_path, ring=4) as store:
            check_consistent(store)
        # The killed writer's uncommitted files are gone (its pid is dead).
        assert not list(tmp_path.glob("crashes/*/.tmp-*"))
    with CrashStore.open(tmp_path, ring=4) as store:
        assert store.crash_count() > 0


def test_many_openers_of_a_new_store_agree_it_is_a_crash_store(tmp_path: Path) -> None:
    # Openers racing to create the schema once read a half-made store as "a
    # database of something else" (seen in CI with two campaigns starting).
    for round_ in range(25):
        root = tmp_path / str(round_)
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_once(
            root: Path = root,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            start.wait()
            try:
                CrashStore.open(root).close()
            except BaseException as e:  # collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=open_once) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], errors


def test_runs_and_their_verdicts(tmp_path: Path) -> None:
    """A nightly run: started, its crashes counted by campaign, finished with verdicts."""
    from rig.crash.store import RunVerdict

    report, log = golden("13")
    with CrashStore.open(tmp_path) as store:
        run = store.start_run("nightly", "cfg1", "abc123", "img1", "6.1.0-57-amd64", "n-1")
        for _ in range(2):
            got = store.record(report, log, None, campaign="n-1", vm="vm0")
        store.record(report, log, None, campaign="other", vm="vm0")
        assert store.bucket_counts("n-1") == {got.bucket_id: 2}
        store.finish_run(
            run.id, "finished", 1000, 42, [RunVerdict(run.id, got.bucket_id, "new", 2)]
        )
        (again,) = store.runs("nightly")
        assert (again.status, again.execs, again.edges, again.buckets) == ("finished", 1000, 42, 1)
        assert store.run_verdicts(run.id) == [RunVerdict(run.id, got.bucket_id, "new", 2)]
        assert store.runs("elsewhere") == []
        with pytest.raises(RigBug):
            store.finish_run(
                run.id, "finished", 0, 0, [RunVerdict(run.id, got.bucket_id, "gone", 0)]
            )


def test_a_schema_2_store_gets_the_runs_tables(tmp_path: Path) -> None:
    report, log = golden("13")
    with CrashStore.open(tmp_path) as store:
        store.record(report, log, None, campaign="c", vm="vm0")
    with sqlite3.connect(tmp_path / "crashes.db") as db:
        db.execute("DROP TABLE run_verdicts")
        db.execute("DROP TABLE runs")
        db.execute("ALTER TABLE crashes DROP COLUMN host")
        db.execute("PRAGMA user_version = 2")
    with CrashStore.open(tmp_path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert store.runs() == [] and len(store.buckets()) == 1


def test_a_schema_3_store_gets_crash_hosts_and_records_them(tmp_path: Path) -> None:
    report, log = golden("13")
    with CrashStore.open(tmp_path) as store:
        store.record(report, log, None, campaign="c", vm="vm0")
    with sqlite3.connect(tmp_path / "crashes.db") as db:
        db.execute("ALTER TABLE crashes DROP COLUMN host")
        db.execute("PRAGMA user_version = 3")
    with CrashStore.open(tmp_path) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 4
        store.record(report, log, None, campaign="c", vm="vm1", host="qemu+tcp://h2/system")
        b = store.bucket(store.buckets()[0].id)
        assert b is not None
        assert [c.host for c in b.crashes] == ["qemu+tcp://h2/system", ""]
