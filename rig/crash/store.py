"""The crash store: buckets and crash instances in SQLite, their files in syzkaller's layout.

On disk, under the rig's home:

    crashes.db                 SQLite (WAL): buckets, crashes, nightly runs and their
                               verdicts, schema version
    crashes/<bucket-id>/       one directory per bucket, named by the id (a hash)
        description            the bucket's title
        log0 .. log{N-1}       console logs of the newest N crashes (a ring)
        first-log, first-report  the bucket's first crash, kept when the ring moves on
        report0 ..             their parsed reports
        prog0 ..               the programs that ran before each crash

Several processes (campaigns) may record into one store at once: every write
is one `BEGIN IMMEDIATE` transaction, with a busy timeout to wait for others.

A crash is recorded in two steps so that killing the process at any point
leaves every committed crash intact: its files are first written under
temporary names (and synced), then its row is committed with those names, and
only then are the files renamed into their ring slot. Opening the store
finishes renames that a killed process left undone and removes files of
crashes that never committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rig.config import StoreLimits
from rig.crash import bucket as B
from rig.crash.kinds import VERDICT_TITLES, Kind, crash_type
from rig.crash.parse import Report
from rig.crash.title import printable
from rig.errors import ConfigError, RigBug

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 4
APPLICATION_ID: Final = 0x72696743  # "rigC": marks the SQLite file as a rig crash store
DEFAULT_RING: Final = 8
BUSY_TIMEOUT_S: Final = StoreLimits().busy_timeout_s
_TMP_PREFIX: Final = ".tmp-"
_ORPHAN_AGE_S: Final = StoreLimits().orphan_age_s

_SCHEMA: Final = (
    """
CREATE TABLE buckets (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    signature TEXT NOT NULL,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    count INTEGER NOT NULL,
    repro_state TEXT NOT NULL DEFAULT 'none',
    repro_ok INTEGER NOT NULL DEFAULT 0,
    repro_tries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE crashes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id TEXT NOT NULL REFERENCES buckets(id),
    seq INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    campaign TEXT NOT NULL,
    vm TEXT NOT NULL,
    time REAL NOT NULL,
    title TEXT NOT NULL,
    corrupted INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    console_log TEXT NOT NULL,
    report_file TEXT NOT NULL,
    program_log TEXT,
    log_sha256 TEXT NOT NULL,
    manifest TEXT NOT NULL REFERENCES manifests(sha256),
    pending TEXT,
    host TEXT NOT NULL DEFAULT '',
    UNIQUE (bucket_id, seq)
);
CREATE INDEX crashes_by_slot ON crashes (bucket_id, slot, seq);
CREATE TABLE manifests (
    sha256 TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""
    + """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    driver_rev TEXT NOT NULL,
    image TEXT NOT NULL,
    kernel TEXT NOT NULL,
    campaign TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    execs INTEGER NOT NULL DEFAULT 0,
    edges INTEGER NOT NULL DEFAULT 0,
    buckets INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'running'
);
CREATE INDEX runs_by_config ON runs (config, id);
CREATE TABLE run_verdicts (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    bucket_id TEXT NOT NULL REFERENCES buckets(id),
    verdict TEXT NOT NULL,
    seen INTEGER NOT NULL,
    repro_ok INTEGER NOT NULL DEFAULT 0,
    repro_tries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, bucket_id)
);
"""
)

# Schema 3 adds nightly runs (one campaign each; its crashes name the same
# campaign) and each run's verdict on every bucket it judged.
_MIGRATE_2_TO_3: Final = _SCHEMA[_SCHEMA.index("CREATE TABLE runs") :]

# Schema 4 names the libvirt host each crash came from (its connection URI),
# for campaigns spread over several; '' for crashes recorded before.
_MIGRATE_3_TO_4: Final = "ALTER TABLE crashes ADD COLUMN host TEXT NOT NULL DEFAULT ''"

# Schema 1 kept each crash's image manifest (~2 KB) in its row: 80% of the
# store's growth in a crash-heavy soak, for a handful of distinct images.
# Schema 2 keeps each manifest once and crashes point at it by hash.
_MIGRATE_1_TO_2: Final = """
CREATE TABLE manifests (
    sha256 TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
"""

REPRO_STATES: Final = ("none", "reproduced", "flaky", "failed")
VERDICTS: Final = ("new", "still", "fixed", "regressed", "flaky")


@dataclass(frozen=True)
class Run:
    """One nightly run: a campaign on one image of a config's driver revision."""

    id: int
    config: str
    config_hash: str
    driver_rev: str
    image: str
    kernel: str
    campaign: str
    started: float
    ended: float | None = None
    execs: int = 0
    edges: int = 0
    buckets: int = 0
    status: str = "running"


@dataclass(frozen=True)
class RunVerdict:
    """What a run said of a bucket: new, still (open), fixed, regressed or flaky."""

    run_id: int
    bucket_id: str
    verdict: str
    seen: int  # crashes of the bucket in this run
    repro_ok: int = 0  # reproducer runs on this run's image that crashed it ...
    repro_tries: int = 0  # ... out of these


@dataclass(frozen=True)
class ReproStatus:
    """How far reproduction got: none, reproduced k/n, flaky (k/n, k < n) or failed."""

    state: str = "none"
    ok: int = 0
    tries: int = 0

    def __post_init__(self) -> None:
        if self.state not in REPRO_STATES:
            raise ConfigError(f"unknown reproduction state {self.state!r}")
        if not 0 <= self.ok <= self.tries:
            raise ConfigError(f"reproduction count {self.ok}/{self.tries} is impossible")

    def __str__(self) -> str:
        if self.state in ("reproduced", "flaky"):
            return f"{self.state} {self.ok}/{self.tries}"
        return self.state


@dataclass(frozen=True)
class Crash:
    """One recorded crash instance."""

    id: int
    bucket_id: str
    seq: int  # the n-th crash of its bucket, from 0
    slot: int  # ring slot of its files (seq % ring)
    campaign: str
    vm: str
    time: float
    title: str
    corrupted: bool
    truncated: bool
    console_log: Path  # absolute; kept only while the crash is among the newest N
    report_file: Path
    program_log: Path | None
    manifest: dict[str, Any]
    kept: bool  # its files are still on disk (not yet overwritten by newer crashes)
    log_sha256: str = ""
    host: str = ""  # the libvirt URI of the host its VM ran on ('' before schema 4)


@dataclass(frozen=True)
class Bucket:
    """One bug: its title, counts, reproduction status and newest crashes."""

    id: str
    title: str
    kind: str
    type: str
    first_seen: float
    last_seen: float
    count: int
    repro: ReproStatus
    directory: Path
    crashes: tuple[Crash, ...] = field(default=())


@dataclass(frozen=True)
class CampaignBucket:
    """A bucket as one campaign saw it."""

    id: str
    title: str
    count: int
    first_seen: float


@dataclass(frozen=True)
class RecordResult:
    bucket_id: str
    new_bucket: bool
    count: int
    crash_id: int = 0


class CrashStore:
    """A crash store under a rig home directory; see the module docstring."""

    def __init__(self, home_root: Path, conn: sqlite3.Connection, ring: int) -> None:
        self.root = home_root
        self.db_path = home_root / "crashes.db"
        self.dir = home_root / "crashes"
        self.ring = ring
        self._conn = conn

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, home_root: Path, ring: int = DEFAULT_RING) -> CrashStore:
        """Open (creating if needed) the store of a home; ConfigError if the file is
        not a rig crash store or was written by a newer rig."""
        if ring < 1:
            raise ConfigError(f"crash ring size must be at least 1, not {ring}")
        home_root = Path(home_root)
        db = home_root / "crashes.db"
        home_root.mkdir(parents=True, exist_ok=True)
        (home_root / "crashes").mkdir(exist_ok=True)
        try:
            conn = sqlite3.connect(db, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise ConfigError(f"{db}: cannot open the crash store: {e}") from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _init_schema(conn, db)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Damaged pages would otherwise surface as tracebacks in whatever query
            # reads them first; one pass over the pages names the file at once.
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
        except sqlite3.DatabaseError as e:
            conn.close()
            raise ConfigError(f"{db}: not a rig crash store ({e})") from e
        except BaseException:
            conn.close()
            raise
        if problems != ["ok"]:
            conn.close()
            found = " ".join(" ".join(problems).split())[:200]
            raise ConfigError(
                f"{db}: the crash store is damaged ({found}); move it aside to start a new "
                "one (reports and programs stay under crashes/)"
            )
        store = cls(home_root, conn, ring)
        store.recover()
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CrashStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # --- recording -------------------------------------------------------------------

    def record(
        self,
        report: Report,
        console_log: bytes | Path,
        programs: Sequence[Path] | bytes | None,
        campaign: str,
        vm: str,
        manifest: dict[str, Any] | None = None,
        *,
        when: float | None = None,
        host: str = "",
    ) -> RecordResult:
        """Store one crash: into its bucket's ring of files, then as a committed row.

        `programs` are what ran before the crash (files, or their text); `manifest`
        describes the image (kernel, module, parameters, hashes); `when` defaults to now;
        `host` is the libvirt URI its VM ran on.
        """
        title = printable(report.title) or "unknown crash"
        bid = B.bucket_id(title)
        bdir = self.dir / bid
        bdir.mkdir(parents=True, exist_ok=True)
        log_bytes = console_log.read_bytes() if isinstance(console_log, Path) else console_log
        prog_bytes = _programs_bytes(programs)
        manifest_json = json.dumps(manifest or {}, sort_keys=True, default=str)
        manifest_sha = _sha256(manifest_json)
        now = time.time() if when is None else when
        temps = {
            "log": _write_temp(bdir, log_bytes),
            "report": _write_temp(bdir, report.text.encode("utf-8", "replace")),
        }
        if prog_bytes is not None:
            temps["prog"] = _write_temp(bdir, prog_bytes)
        try:
            with self._write() as db:
                row = db.execute("SELECT count, title FROM buckets WHERE id = ?", (bid,)).fetchone()
                new = row is None
                seq = 0 if new else int(row[0])
                slot = seq % self.ring
                if new:
                    db.execute(
                        "INSERT INTO buckets (id, title, signature, kind, type, first_seen,"
                        " last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                        (
                            bid,
                            title,
                            B.signature(title),
                            report.kind.value,
                            report.type or crash_type(title),
                            now,
                            now,
                        ),
                    )
                else:
                    db.execute(
                        "UPDATE buckets SET count = count + 1,"
                        " last_seen = max(last_seen, ?), first_seen = min(first_seen, ?)"
                        " WHERE id = ?",
                        (now, now, bid),
                    )
                db.execute(
                    "INSERT OR IGNORE INTO manifests (sha256, body) VALUES (?, ?)",
                    (manifest_sha, manifest_json),
                )
                cur = db.execute(
                    "INSERT INTO crashes (bucket_id, seq, slot, campaign, vm, time, title,"
                    " corrupted, truncated, console_log, report_file, program_log, log_sha256,"
                    " manifest, pending, host)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        bid,
                        seq,
                        slot,
                        campaign,
                        vm,
                        now,
                        title,
                        int(report.corrupted),
                        int(report.truncated),
                        _rel(bdir / f"log{slot}", self.root),
                        _rel(bdir / f"report{slot}", self.root),
                        _rel(bdir / f"prog{slot}", self.root) if "prog" in temps else None,
                        hashlib.sha256(log_bytes).hexdigest(),
                        manifest_sha,
                        json.dumps({k: v.name for k, v in temps.items()}),
                        host,
                    ),
                )
                crash_id = int(cur.lastrowid or 0)
        except BaseException:
            for t in temps.values():
                t.unlink(missing_ok=True)
            raise
        # Committed: now the files take their slot, replacing the crash N places older.
        self._finish(crash_id)
        return RecordResult(bid, new, seq + 1, crash_id)

    def record_verdict(
        self,
        kind: Kind,
        console_log: bytes | Path,
        programs: Sequence[Path] | bytes | None,
        campaign: str,
        vm: str,
        manifest: dict[str, Any] | None = None,
        *,
        detail: str = "",
        when: float | None = None,
        host: str = "",
    ) -> RecordResult:
        """Store a verdict of the rig itself (lost connection, no output) as a crash."""
        title = VERDICT_TITLES.get(kind)
        if title is None:
            raise RigBug(f"{kind} is not a verdict of the rig")
        text = f"{title}\n{detail}\n" if detail else f"{title}\n"
        report = Report(
            title=title,
            kind=kind,
            format=kind.value,
            frame="",
            guilty=None,
            text=text,
            start=0,
            end=max(1, len(text)),
            type=crash_type(title),
        )
        return self.record(
            report, console_log, programs, campaign, vm, manifest, when=when, host=host
        )

    def _finish(self, crash_id: int) -> None:
        """Move a committed crash's files into its ring slot (idempotent).

        Under the write lock, so no newer crash can take the slot meanwhile; a crash
        that lost its slot to a newer one (its writer was killed long ago) only has
        its files removed.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT c.bucket_id, c.slot, c.seq, c.pending, b.title FROM crashes c"
                " JOIN buckets b ON b.id = c.bucket_id WHERE c.id = ?",
                (crash_id,),
            ).fetchone()
            if row is None or row[3] is None:
                return
            bid, slot, seq, pending, title = row
            bdir = self.dir / bid
            temps: dict[str, str] = json.loads(pending)
            newest = db.execute(
                "SELECT max(seq) FROM crashes WHERE bucket_id = ? AND slot = ?", (bid, slot)
            ).fetchone()[0]
            for kind, name in temps.items():
                tmp = bdir / name
                if not tmp.exists():
                    continue  # moved already by an earlier, interrupted attempt
                if newest == seq:
                    final = bdir / f"{kind}{slot}"
                    os.replace(tmp, final)
                    if seq == 0 and kind in ("log", "report"):
                        # The ring overwrites slot 0 after `ring` crashes; a bucket's
                        # first report stays, whatever retention removes later.
                        with contextlib.suppress(FileExistsError):
                            os.link(final, bdir / f"first-{kind}")
                else:
                    tmp.unlink()
            if not (bdir / "description").exists():
                _replace(bdir / "description", (title + "\n").encode())
            _fsync_dir(bdir)
            db.execute("UPDATE crashes SET pending = NULL WHERE id = ?", (crash_id,))

    def recover(self) -> None:
        """Finish what killed writers left: renames of committed crashes, orphan temps."""
        pending = self._conn.execute(
            "SELECT id, bucket_id, pending FROM crashes WHERE pending IS NOT NULL"
        ).fetchall()
        referenced: set[tuple[str, str]] = set()
        for cid, bid, names in pending:
            referenced.update((bid, n) for n in json.loads(names).values())
            self._finish(cid)
        # Temp files of crashes that never committed, unless their writer may still live.
        cutoff = time.time() - _ORPHAN_AGE_S
        for tmp in self.dir.glob(f"*/{_TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if (tmp.parent.name, tmp.name) in referenced:
                    continue
                if not _writer_alive(tmp.name) or tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    # --- reading ---------------------------------------------------------------------

    def buckets(self) -> list[Bucket]:
        """All buckets, most recently seen first (without their crashes)."""
        rows = self._conn.execute(
            "SELECT id, title, kind, type, first_seen, last_seen, count, repro_state,"
            " repro_ok, repro_tries FROM buckets ORDER BY last_seen DESC, id"
        ).fetchall()
        return [self._bucket(r) for r in rows]

    def hosts(self) -> dict[str, list[str]]:
        """Bucket id -> the libvirt hosts its crashes came from ('' for unnamed), sorted."""
        out: dict[str, list[str]] = {}
        for bid, host in self._conn.execute(
            "SELECT DISTINCT bucket_id, host FROM crashes ORDER BY bucket_id, host"
        ):
            out.setdefault(bid, []).append(host)
        return out

    def bucket(self, bucket_id: str) -> Bucket | None:
        """One bucket by id (or a unique prefix of one), with its crashes, newest first."""
        bid = self.resolve(bucket_id)
        if bid is None:
            return None
        row = self._conn.execute(
            "SELECT id, title, kind, type, first_seen, last_seen, count, repro_state,"
            " repro_ok, repro_tries FROM buckets WHERE id = ?",
            (bid,),
        ).fetchone()
        b = self._bucket(row)
        crashes = tuple(
            self._crash(r, b.count)
            for r in self._conn.execute(
                "SELECT c.id, c.bucket_id, c.seq, c.slot, c.campaign, c.vm, c.time, c.title,"
                " c.corrupted, c.truncated, c.console_log, c.report_file, c.program_log,"
                " m.body, c.log_sha256, c.host FROM crashes c"
                " LEFT JOIN manifests m ON m.sha256 = c.manifest"
                " WHERE c.bucket_id = ? ORDER BY c.seq DESC",
                (bid,),
            )
        )
        return dataclasses.replace(b, crashes=crashes)

    def resolve(self, bucket_id: str) -> str | None:
        """The full id of a bucket given its id or a unique prefix; None if none."""
        if not B.ID_RE.fullmatch(bucket_id):
            return None
        rows = self._conn.execute(
            "SELECT id FROM buckets WHERE substr(id, 1, ?) = ? LIMIT 2",
            (len(bucket_id), bucket_id),
        ).fetchall()
        if len(rows) > 1:
            raise ConfigError(f"bucket id prefix {bucket_id!r} is ambiguous")
        return str(rows[0][0]) if rows else None

    def campaign_buckets(self, campaign: str) -> list[CampaignBucket]:
        """The buckets a campaign hit: how often, and when first (oldest first)."""
        rows = self._conn.execute(
            "SELECT c.bucket_id, b.title, count(*), min(c.time) FROM crashes c"
            " JOIN buckets b ON b.id = c.bucket_id WHERE c.campaign = ?"
            " GROUP BY c.bucket_id ORDER BY min(c.time), c.bucket_id",
            (campaign,),
        ).fetchall()
        return [CampaignBucket(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    def image_ids(self) -> set[str]:
        """The images crashes were found on: what reproduction needs kept."""
        rows = self._conn.execute(
            "SELECT DISTINCT json_extract(body, '$.image_id') FROM manifests"
            " WHERE sha256 IN (SELECT manifest FROM crashes)"
        ).fetchall()
        return {str(r[0]) for r in rows if r[0]}

    def crash_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM crashes").fetchone()[0])

    # --- nightly runs ------------------------------------------------------------------

    def start_run(
        self,
        config: str,
        config_hash: str,
        driver_rev: str,
        image: str,
        kernel: str,
        campaign: str,
        when: float | None = None,
    ) -> Run:
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO runs (config, config_hash, driver_rev, image, kernel, campaign,"
                " started) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (config, config_hash, driver_rev, image, kernel, campaign, when or time.time()),
            )
            run_id = int(cur.lastrowid or 0)
        run = self.run(run_id)
        assert run is not None
        return run

    def finish_run(
        self,
        run_id: int,
        status: str,
        execs: int,
        edges: int,
        verdicts: Sequence[RunVerdict],
        when: float | None = None,
    ) -> None:
        """End a run with its figures and its verdicts, in one transaction."""
        bad = [v.verdict for v in verdicts if v.verdict not in VERDICTS]
        if bad:
            raise RigBug(f"unknown verdicts {bad}")
        with self._write() as c:
            c.execute("DELETE FROM run_verdicts WHERE run_id = ?", (run_id,))
            c.executemany(
                "INSERT INTO run_verdicts (run_id, bucket_id, verdict, seen, repro_ok,"
                " repro_tries) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, v.bucket_id, v.verdict, v.seen, v.repro_ok, v.repro_tries)
                    for v in verdicts
                ],
            )
            seen = sum(1 for v in verdicts if v.seen)
            c.execute(
                "UPDATE runs SET ended = ?, status = ?, execs = ?, edges = ?, buckets = ?"
                " WHERE id = ?",
                (when or time.time(), status, execs, edges, seen, run_id),
            )

    def run(self, run_id: int) -> Run | None:
        r = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        row = r.fetchone()
        return Run(*row) if row else None

    def runs(self, config: str | None = None) -> list[Run]:
        """Runs, oldest first; only those of `config` when given."""
        if config is None:
            rows = self._conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")
        else:
            rows = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE config = ? ORDER BY id", (config,)
            )
        return [Run(*r) for r in rows.fetchall()]

    def run_verdicts(self, run_id: int) -> list[RunVerdict]:
        rows = self._conn.execute(
            "SELECT run_id, bucket_id, verdict, seen, repro_ok, repro_tries FROM run_verdicts"
            " WHERE run_id = ? ORDER BY bucket_id",
            (run_id,),
        )
        return [RunVerdict(*r) for r in rows.fetchall()]

    def forget_overwritten(self) -> int:
        """Delete crash rows whose files the ring has overwritten, except each bucket's first.

        What keeps the database bounded across many runs: a bucket keeps at most
        ring + 1 rows (its first crash and the newest `ring`). Returns rows removed.
        """
        with self._write() as c:
            cur = c.execute(
                "DELETE FROM crashes WHERE seq > 0 AND pending IS NULL AND seq < "
                "(SELECT b.count FROM buckets b WHERE b.id = crashes.bucket_id) - ?",
                (self.ring,),
            )
            return int(cur.rowcount)

    def bucket_counts(self, campaign: str) -> dict[str, int]:
        """Crashes recorded by `campaign`, per bucket (what a run saw)."""
        rows = self._conn.execute(
            "SELECT bucket_id, COUNT(*) FROM crashes WHERE campaign = ? AND pending IS NULL"
            " GROUP BY bucket_id",
            (campaign,),
        )
        return {str(b): int(n) for b, n in rows.fetchall()}

    def set_repro_status(self, bucket_id: str, status: ReproStatus) -> None:
        """Record how reproduction of a bucket went."""
        bid = self.resolve(bucket_id)
        if bid is None:
            raise ConfigError(f"no crash bucket {bucket_id!r} in {self.db_path}")
        with self._write() as db:
            db.execute(
                "UPDATE buckets SET repro_state = ?, repro_ok = ?, repro_tries = ? WHERE id = ?",
                (status.state, status.ok, status.tries, bid),
            )

    def _bucket(self, r: Sequence[Any]) -> Bucket:
        return Bucket(
            id=r[0],
            title=r[1],
            kind=r[2],
            type=r[3],
            first_seen=r[4],
            last_seen=r[5],
            count=r[6],
            repro=ReproStatus(r[7], r[8], r[9]),
            directory=self.dir / r[0],
        )

    def _crash(self, r: Sequence[Any], count: int) -> Crash:
        return Crash(
            id=r[0],
            bucket_id=r[1],
            seq=r[2],
            slot=r[3],
            campaign=r[4],
            vm=r[5],
            time=r[6],
            title=r[7],
            corrupted=bool(r[8]),
            truncated=bool(r[9]),
            console_log=self.root / r[10],
            report_file=self.root / r[11],
            program_log=self.root / r[12] if r[12] else None,
            manifest=json.loads(r[13]) if r[13] else {},
            kept=r[2] >= count - self.ring,
            log_sha256=r[14],
            host=r[15],
        )


_RUN_COLUMNS: Final = (
    "id, config, config_hash, driver_rev, image, kernel, campaign, started, ended, execs,"
    " edges, buckets, status"
)


def _identity(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) of an open database."""
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return int(app), int(version), int(tables)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (a no-op once the file is WAL: the mode is stored in it).

    The switch needs the file to itself, and SQLite reports "database is locked"
    at once, without its busy handler, while another opener holds it; so wait
    here, as long as any other write would.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _init_schema(conn: sqlite3.Connection, db: Path) -> None:
    app, version, _ = _identity(conn)
    if app != APPLICATION_ID or version == 0:
        # Empty, or being created by another process right now, or not ours. The
        # three reads above are not one snapshot (another opener may commit
        # between them), so decide again under the write lock, where they are.
        conn.execute("BEGIN IMMEDIATE")
        try:
            app, version, tables = _identity(conn)
            if app == 0 and version == 0 and tables == 0:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                app, version = APPLICATION_ID, SCHEMA_VERSION
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if app != APPLICATION_ID:
        raise ConfigError(f"{db}: not a rig crash store (a database of something else)")
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"{db}: written by a newer rig (schema {version}; this rig knows {SCHEMA_VERSION})"
        )
    if version < 1:
        raise ConfigError(f"{db}: crash store with unknown schema version {version}")
    if version == 1:
        _migrate_1_to_2(conn)
        version = 2
    if version == 2:
        _migrate_statements(conn, 2, _MIGRATE_2_TO_3, "nightly runs")
        version = 3
    if version == 3:
        _migrate_statements(conn, 3, _MIGRATE_3_TO_4, "crash hosts")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Move schema 1's per-row manifests into the manifests table, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:  # not done meanwhile
            for stmt in _MIGRATE_1_TO_2.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            rows = conn.execute("SELECT id, manifest FROM crashes").fetchall()
            for crash_id, body in rows:
                sha = _sha256(body)
                conn.execute(
                    "INSERT OR IGNORE INTO manifests (sha256, body) VALUES (?, ?)", (sha, body)
                )
                conn.execute("UPDATE crashes SET manifest = ? WHERE id = ?", (sha, crash_id))
            conn.execute("PRAGMA user_version = 2")
            log.info("crash store upgraded to schema 2 (%d crashes)", len(rows))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate_statements(conn: sqlite3.Connection, version: int, statements: str, what: str) -> None:
    """Take a store from `version` to the next by running `statements`, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == version:  # not done meanwhile
            for stmt in statements.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            log.info("crash store upgraded to schema %d (%s)", version + 1, what)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _programs_bytes(programs: Sequence[Path] | bytes | None) -> bytes | None:
    if programs is None:
        return None
    if isinstance(programs, bytes):
        return programs
    parts = []
    for p in programs:
        parts.append(f"# program {p.name}\n".encode() + p.read_bytes())
    return b"\n".join(parts)


def _write_temp(directory: Path, data: bytes) -> Path:
    path = directory / f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def _writer_alive(temp_name: str) -> bool:
    """Whether the process that wrote a temp file may still be running (pid in its name)."""
    try:
        pid = int(temp_name[len(_TMP_PREFIX) :].split("-", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _replace(path: Path, data: bytes) -> None:
    tmp = _write_temp(path.parent, data)
    os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))
