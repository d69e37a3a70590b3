"""`rig bisect`: the first commit of a driver's git history that crashes with a bucket's title.

The driver's directory lives in a git work tree. Each revision tested is
exported with `git archive` into the home's cache (`cache/revisions/<sha>/`,
shared with nightly runs; the user's work tree and index are never
touched), built into an image with
the module parameters the bucket's crash ran under (images are cached by
their inputs, so a second bisect over the same history builds nothing), and
booted; the bucket's reproducer (`repro.prog`, written by `rig repro`) runs
`runs` times, each on a fresh VM. A revision is bad when any run ends with
the bucket's title (or a title the store files under the same bucket), good
when none does, and skipped, as `git bisect skip` would, when it does not
build or its image does not boot.

The search is a binary search over the first-parent line from --bad back to
--good (`git rev-list --first-parent`, kept to commits that descend from
--good): a merge is one step, and a bad merge means the bug came in with it.
Both endpoints are tested first; a --good that crashes or a --bad that does
not ends the bisect with an error naming it and its k/n. The search itself
(`search`) takes any `Tester`, so the unit tests drive it over fakes.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from rig.config import Home
from rig.context import RunContext
from rig.crash import bucket as B
from rig.crash.store import CrashStore
from rig.crash.title import printable
from rig.errors import BootError, BuildError, ConfigError, InfraError, LibvirtGone
from rig.guest.surface import config_for
from rig.image import revision
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import Program
from rig.repro import inputs
from rig.repro.replay import VmReplayer
from rig.util import atomic_write
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

GOOD: Final = "good"
BAD: Final = "bad"
SKIP: Final = "skip"
DEFAULT_RUNS: Final = 3
REPRODUCER: Final = "repro.prog"
RESULT_FILE: Final = "bisect.json"
# git's own environment would point it at another repository or index (a hook's, a
# caller's private index); every git command here names the repository itself.
_GIT_ENV_DROP: Final = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Revision:
    sha: str
    subject: str

    @property
    def short(self) -> str:
        return self.sha[:12]

    def to_json(self) -> dict[str, str]:
        return {"sha": self.sha, "subject": self.subject}


@dataclass(frozen=True)
class Trial:
    """What testing one revision gave: its verdict and the runs behind it."""

    verdict: str  # good, bad or skip
    crashed: int = 0  # runs that showed the bucket's title
    runs: int = 0  # runs made
    reason: str = ""  # why it was skipped, or what else it showed
    image: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Step:
    """One revision tested, in the order the bisect tested it."""

    revision: Revision
    role: str  # "good" or "bad" (an endpoint's check) or "search"
    trial: Trial
    left: int | None = None  # revisions still to test after this one (search steps)

    def to_json(self) -> dict[str, Any]:
        t = self.trial
        return {
            **self.revision.to_json(),
            "role": self.role,
            "verdict": t.verdict,
            "crashed": t.crashed,
            "runs": t.runs,
            "reason": t.reason,
            "image": t.image,
            "seconds": round(t.seconds, 1),
        }


@dataclass
class Search:
    """How a search ended: found (first_bad set), ambiguous (candidates) or endpoint."""

    status: str
    steps: list[Step] = field(default_factory=list)
    first_bad: Revision | None = None
    candidates: list[Revision] = field(default_factory=list)  # oldest first
    message: str = ""


@dataclass
class BisectResult:
    bucket: str
    title: str
    good: Revision
    bad: Revision
    runs: int
    commits: int  # on the first-parent line from good (excluded) to bad (included)
    search: Search
    driver: str = ""
    params: str = ""
    seconds: float = 0.0
    path: list[Revision] = field(default_factory=list)  # oldest first, bad last

    @property
    def found(self) -> bool:
        return self.search.status == "found"

    def evidence(self) -> list[Step]:
        """The steps in history order: the good endpoint first, the bad one last."""
        order = {r.sha: i for i, r in enumerate(self.path)}
        order[self.good.sha] = -1
        return sorted(self.search.steps, key=lambda st: order.get(st.revision.sha, -1))

    def to_json(self) -> dict[str, Any]:
        s = self.search
        return {
            "bucket": self.bucket,
            "title": self.title,
            "status": s.status,
            "first_bad": s.first_bad.to_json() if s.first_bad else None,
            "candidates": [c.to_json() for c in s.candidates],
            "message": s.message,
            "good": self.good.to_json(),
            "bad": self.bad.to_json(),
            "runs": self.runs,
            "commits": self.commits,
            "first_parent": True,
            "steps": [st.to_json() for st in s.steps],
            "driver": self.driver,
            "params": self.params,
            "seconds": round(self.seconds, 1),
        }


# ---------------------------------------------------------------- the search


class Tester(Protocol):
    """Builds, boots and runs the reproducer on one revision."""

    def test(self, rev: Revision) -> Trial: ...


def _evidence(t: Trial) -> str:
    return f"{t.crashed}/{t.runs}"


def _endpoint_problem(step: Step) -> str | None:
    """Why an endpoint's check disagrees with what the user said of it; None if it agrees."""
    t, rev = step.trial, step.revision
    name = f"--{step.role} {rev.short} ({rev.subject})"
    if t.verdict == step.role:
        return None
    if t.verdict == SKIP:
        return f"{name} could not be tested: {t.reason}"
    if step.role == BAD:
        others = f"; it showed {t.reason}" if t.reason else ""
        return (
            f"{name} did not crash with the bucket's title in any of {t.runs} runs"
            f" ({_evidence(t)}){others}: a bad endpoint must crash"
            " (a flaky reproducer needs more --runs)"
        )
    return (
        f"{name} crashed with the bucket's title in {_evidence(t)} runs: a good endpoint"
        " must not (pick an older --good)"
    )


def search(
    path: Sequence[Revision],
    good: Revision,
    tester: Tester,
    on_step: Callable[[Step], None] | None = None,
) -> Search:
    """The first bad revision of `path` (oldest first, ending with the bad endpoint).

    `good` precedes path[0]. Both endpoints are checked first. Skipped
    revisions are stepped around, nearest the middle first; when only
    skipped ones are left between the last good and the first bad, the
    answer is the range they span.
    """
    if not path:
        raise ConfigError("no commits between --good and --bad")
    result = Search("running")

    def run(rev: Revision, role: str) -> Step:
        step = Step(rev, role, tester.test(rev))
        result.steps.append(step)
        if on_step is not None:
            on_step(step)
        return step

    # The bad endpoint first: its image is often the crash's own (built already), and
    # if the reproducer does not crash there, no other revision is worth building.
    for rev, role in ((path[-1], BAD), (good, GOOD)):
        problem = _endpoint_problem(run(rev, role))
        if problem is not None:
            result.status, result.message = "endpoint", problem
            return result

    lo, hi = -1, len(path) - 1  # path[lo] (or good) is good, path[hi] is bad
    skipped: set[int] = set()

    def untested() -> list[int]:
        return [i for i in range(lo + 1, hi) if i not in skipped]

    while todo := untested():
        # Nearest the middle of what is left, so a skip costs one step, not the halving.
        mid = min(todo, key=lambda i: (abs(2 * i - (lo + hi)), i))
        trial = tester.test(path[mid])
        if trial.verdict == GOOD:
            lo = mid
        elif trial.verdict == BAD:
            hi = mid
        else:
            skipped.add(mid)
        step = Step(path[mid], "search", trial, len(untested()))
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    if hi - lo == 1:
        result.status, result.first_bad = "found", path[hi]
        result.message = f"first bad commit: {path[hi].sha} {path[hi].subject}"
        return result
    result.status = "ambiguous"
    result.candidates = list(path[lo + 1 : hi + 1])
    after = path[lo].short if lo >= 0 else good.short
    skips = ", ".join(path[i].short for i in sorted(skipped) if lo < i < hi)
    result.message = (
        f"the first bad commit is one of the {len(result.candidates)} commits after {after}"
        f" up to {path[hi].short}: {skips} could not be tested"
    )
    return result


# ---------------------------------------------------------------- git


def _git_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}


@dataclass(frozen=True)
class DriverRepo:
    """A driver directory inside a git work tree: the tree's top and the driver's path in it."""

    driver: Path
    top: Path
    prefix: str  # "" when the driver is the top, else "a/b" (no trailing slash)

    @classmethod
    def open(cls, driver: Path) -> DriverRepo:
        if not driver.is_dir():
            raise ConfigError(f"driver directory {driver} does not exist")
        proc = subprocess.run(
            ["git", "-C", str(driver), "rev-parse", "--show-toplevel", "--show-prefix"],
            capture_output=True,
            text=True,
            env=_git_env(),
            check=False,
        )
        if proc.returncode != 0:
            why = proc.stderr.strip().splitlines()[-1:] or ["git said nothing"]
            raise ConfigError(f"{driver} is not in a git work tree: {why[0]}")
        lines = proc.stdout.splitlines()
        top = Path(lines[0])
        prefix = lines[1].strip("/") if len(lines) > 1 else ""
        return cls(driver.resolve(), top, prefix)

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(self.top), *args],
            capture_output=True,
            text=True,
            env=_git_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise ConfigError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
        return proc.stdout

    def revision(self, rev: str, what: str) -> Revision:
        """`rev` as a commit; ConfigError naming `what` (--good, --bad) when there is none."""
        if not rev or rev.startswith("-"):
            raise ConfigError(f"{what} {rev!r} is not a revision")
        proc = subprocess.run(
            ["git", "-C", str(self.top), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            capture_output=True,
            text=True,
            env=_git_env(),
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            raise ConfigError(f"{what} {rev!r}: no such commit in {self.top}")
        sha = proc.stdout.strip()
        return Revision(sha, self.git("show", "-s", "--format=%s", sha).strip())

    def is_ancestor(self, a: Revision, b: Revision) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(self.top), "merge-base", "--is-ancestor", a.sha, b.sha],
            capture_output=True,
            env=_git_env(),
            check=False,
        )
        if proc.returncode not in (0, 1):
            raise ConfigError(f"git merge-base {a.short} {b.short}: {proc.stderr.decode().strip()}")
        return proc.returncode == 0

    def first_parent_path(self, good: Revision, bad: Revision) -> list[Revision]:
        """The first-parent line from `bad` back to the last commit that descends from `good`.

        Oldest first, `bad` last. `git rev-list --first-parent --ancestry-path`
        alone is empty when --good sits on a merged branch; walking the
        first-parent line and keeping the commits that descend from --good is
        the same line in the common case and the merges that joined it otherwise.
        """
        if good.sha == bad.sha:
            raise ConfigError(f"--good and --bad are the same commit ({good.short})")
        if not self.is_ancestor(good, bad):
            raise ConfigError(
                f"--good {good.short} is not an ancestor of --bad {bad.short}: nothing to bisect"
            )
        descendants = set(self.git("rev-list", "--ancestry-path", f"{good.sha}..{bad.sha}").split())
        line = self.git(
            "log",
            "--first-parent",
            f"--max-count={len(descendants) + 1}",
            "--format=%H%x00%s",
            bad.sha,
            "--",
        )
        path = []
        for entry in line.splitlines():
            sha, _, subject = entry.partition("\0")
            if sha not in descendants:
                break
            path.append(Revision(sha, subject))
        path.reverse()
        return path

    def first_parent(self, rev: Revision) -> str | None:
        out = self.git("rev-list", "--parents", "-n", "1", rev.sha).split()
        return out[1] if len(out) > 1 else None

    def export(self, rev: Revision, cache: Path) -> Path:
        """The driver directory as it was at `rev`, exported under `cache` once (shared with
        nightly runs: `rig.image.revision`); BuildError if it has no files there."""
        try:
            out, _ = revision.export(self.driver, rev.sha, cache)
        except ConfigError as e:
            raise BuildError(str(e)) from None
        return out


# ---------------------------------------------------------------- the bucket


@dataclass(frozen=True)
class Target:
    """What the bisect reproduces: a bucket, its reproducer and the image its crash ran on."""

    bucket_id: str
    title: str
    reproducer: Path
    programs: tuple[Program, ...]
    manifest: dict[str, Any]  # the crash's image manifest (with what the agent allowed)

    def _module(self) -> dict[str, Any]:
        module = self.manifest.get("module")
        return module if isinstance(module, dict) else {}

    @property
    def module(self) -> str | None:
        name = self._module().get("name")
        return str(name) if name else None

    @property
    def params(self) -> str:
        return " ".join(str(p) for p in self._module().get("params") or [])

    @property
    def coverage(self) -> bool:
        return "coverage" not in self._module() or bool(self._module()["coverage"])

    @property
    def kernel_version(self) -> str | None:
        kernel = self.manifest.get("kernel")
        v = kernel.get("version") if isinstance(kernel, dict) else None
        return str(v) if v else None

    def matches(self, title: str | None) -> bool:
        """The bucket's title, or one the store would file under the same bucket."""
        # As the store files a crash: by the printable form of its title.
        return (
            title is not None and B.bucket_id(printable(title) or "unknown crash") == self.bucket_id
        )


def load_target(home: Home, bucket: str) -> Target:
    """The bucket (id or unique prefix) with its reproducer; ConfigError naming what is missing."""
    if not home.crash_db.exists():
        raise ConfigError(f"{home.root} has no crash store: no bucket {bucket!r} to bisect")
    with CrashStore.open(home.root) as store:
        b = store.bucket(bucket)
        if b is None:
            raise ConfigError(f"no crash bucket {bucket!r} in {store.db_path}")
    prog = b.directory / REPRODUCER
    if not prog.is_file():
        raise ConfigError(
            f"bucket {b.id} ({b.title}) has no reproducer ({prog} is missing):"
            f" run `rig repro {b.id}` first"
        )
    programs = tuple(e.file.program for e in inputs.read_programs(prog))
    # The newest crash's image: the parameters the bug was last seen under.
    manifests = [c.manifest for c in b.crashes if c.manifest.get("module")]
    if not manifests:
        saved = b.directory / inputs.MANIFEST_FILE
        try:
            manifests = [json.loads(saved.read_text())] if saved.is_file() else []
        except ValueError as e:
            raise ConfigError(f"{saved} is corrupt: {e}") from None
    if not manifests:
        raise ConfigError(
            f"bucket {b.id}: no crash records the image it ran on, so the module parameters"
            " to build each revision with are unknown"
        )
    target = Target(b.id, b.title, prog, programs, manifests[0])
    params = {" ".join(m.get("module", {}).get("params") or []) for m in manifests}
    if len(params) > 1:
        log.warning(
            "bucket %s crashed under several module parameter sets; using the newest: %r",
            b.id,
            target.params,
        )
    if target.manifest.get("include"):
        log.warning(
            "the crash's image included %s; images built for the bisect do not",
            ", ".join(sorted(target.manifest["include"])),
        )
    return target


# ---------------------------------------------------------------- revisions in VMs


@dataclass
class VmTester:
    """Tests revisions in real VMs: export, build (cached), boot fresh, run the reproducer."""

    ctx: RunContext
    host: VmHost
    repo: DriverRepo
    target: Target
    runs: int
    campaign: str

    @property
    def cache(self) -> Path:
        return self.ctx.home.root / "cache"

    def build(self, src: Path) -> Image:
        """The image of `src` as the crash's was built; the crash's own when the sources match.

        Images are keyed by the request, and `rig fuzz` and `rig image build`
        name no module unless the driver builds several: asking for one by
        name would build a second image of the same sources.
        """
        t = self.target

        def build(module: str | None) -> Image:
            return self.ctx.build_image(
                src, module, t.params, kernel_version=t.kernel_version, coverage=t.coverage
            )

        try:
            image = build(None)
        except ConfigError:
            if t.module is None:
                raise
            image = build(t.module)  # several modules, or none of that name: name it
        if t.module is not None and image.module != t.module:
            raise ConfigError(f"it builds module {image.module}, the crash ran {t.module}")
        return image

    def test(self, rev: Revision) -> Trial:
        t0 = time.monotonic()
        try:
            image = self.build(self.repo.export(rev, self.cache))
        except (BuildError, ConfigError) as e:
            log.info("%s does not build: %s", rev.short, e)
            return Trial(SKIP, reason=f"does not build: {e}", seconds=time.monotonic() - t0)
        replayer = VmReplayer(
            self.host,
            image,
            campaign=self.campaign,
            config=config_for(self.target.manifest, image.module, self.ctx.limits.call_s),
            header=text.Header(driver_hash=str(image.manifest["module"]["source_sha256"])),
        )
        crashed = done = 0
        others: Counter[str] = Counter()
        try:
            for i in range(self.runs):
                replayer.discard()  # every run on a fresh VM: runs are independent evidence
                v = replayer.replay(self.target.programs)
                done += 1
                log.info("%s run %d/%d: %s", rev.short, i + 1, self.runs, v.title or "no crash")
                if self.target.matches(v.title):
                    crashed += 1
                elif v.title is not None:
                    others[v.title] += 1
        except LibvirtGone:
            raise  # the host, not the revision: no verdict would be honest
        except (BootError, ConfigError, InfraError) as e:
            # The driver did not load, or the guest never became ready or died before
            # any program ran: this revision cannot be tested, as with git bisect skip.
            log.info("%s does not boot: %s", rev.short, e)
            return Trial(
                SKIP, crashed, done, f"image {image.id} does not boot: {e}", image.id,
                time.monotonic() - t0,
            )  # fmt: skip
        finally:
            replayer.close()
        seen = ", ".join(f"{t!r} x{n}" for t, n in others.items())
        return Trial(
            BAD if crashed else GOOD,
            crashed,
            done,
            f"other titles: {seen}" if seen else "",
            image.id,
            time.monotonic() - t0,
        )


def bisect(
    ctx: RunContext,
    bucket: str,
    driver: Path,
    good: str,
    bad: str,
    *,
    runs: int = DEFAULT_RUNS,
    host: VmHost | None = None,
    tester: Tester | None = None,
    on_start: Callable[[BisectResult], None] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> BisectResult:
    """Bisect BUCKET over DRIVER's history from GOOD to BAD; the result is also saved.

    Bad input (bucket, repository, revisions) raises ConfigError before any
    build. `tester` replaces the VMs (tests); otherwise `host` (default: the
    context's own connection) boots them. A search that ran to its end
    (found or ambiguous) is written to the bucket's bisect.json.
    """
    if runs < 1:
        raise ConfigError(f"--runs must be at least 1, not {runs}")
    t0 = time.monotonic()
    target = load_target(ctx.home, bucket)
    repo = DriverRepo.open(driver)
    good_rev = repo.revision(good, "--good")
    bad_rev = repo.revision(bad, "--bad")
    path = repo.first_parent_path(good_rev, bad_rev)
    if not path:
        raise ConfigError(f"no first-parent line from --bad {bad_rev.short} to --good")
    if repo.first_parent(path[0]) != good_rev.sha:
        log.warning(
            "--good %s is not on --bad's first-parent line; the search starts at %s (%s),"
            " the first commit on that line that contains it",
            good_rev.short,
            path[0].short,
            path[0].subject,
        )
    result = BisectResult(
        target.bucket_id,
        target.title,
        good_rev,
        bad_rev,
        runs,
        len(path),
        Search("running"),
        driver=str(repo.driver),
        params=target.params,
        path=path,
    )
    if on_start is not None:
        on_start(result)
    own_host = tester is None and host is None
    if tester is None:
        if host is None:
            host = ctx.open()
        tester = VmTester(
            ctx,
            host,
            repo,
            target,
            runs,
            campaign=f"bisect-{target.bucket_id[:8]}-{time.strftime('%H%M%S')}",
        )
    try:
        result.search = search(path, good_rev, tester, on_step)
    finally:
        if own_host and host is not None:
            host.close()
    result.seconds = time.monotonic() - t0
    if result.search.status in ("found", "ambiguous"):
        out = ctx.home.root / "crashes" / target.bucket_id / RESULT_FILE
        atomic_write(out, (json.dumps(result.to_json(), indent=2) + "\n").encode())
    return result
