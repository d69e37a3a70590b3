"""`rig review`: build both revisions, diff their surfaces, check the rules, fuzz what is new.

Steps, each said on the way: export and build the base and head revisions
(or take two directories), discover each surface (header, module, a live
probe for files and enforced policies), diff them, keep the rules' findings
the base did not have, then one campaign on a spec of only the added and
changed entry points. The campaign stops at its first bucket (unless told
to keep going) so reproduction gets what is left of the budget; each new
bucket is reproduced with `rig repro`'s machinery, which writes repro.prog
and repro.c next to the crash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig.context import RunContext
from rig.errors import ConfigError
from rig.image.build import Image
from rig.review.diff import Change, diff
from rig.review.dwarf import Location
from rig.review.focus import EntryStats, count, doors, focus
from rig.review.rules import Finding, new_findings
from rig.review.surface import Surface, discover

log = logging.getLogger(__name__)

MIN_REPRO_S = 90.0  # a reproduction below this rarely gets through its fresh-VM checks


@dataclass(frozen=True)
class ReviewOptions:
    driver: Path | None  # a git work tree (with base/head revisions)
    base: str | None
    head: str | None
    base_dir: Path | None = None  # or two directories
    head_dir: Path | None = None
    header: str | None = None  # relative to the driver directory
    devices: tuple[str, ...] = ()
    module: str | None = None
    params: str = ""
    budget_s: float = 600.0
    vms: int = 1
    engine: str = "atheris"
    seed: int = 0
    probe: bool = True
    fuzz: bool = True
    keep_going: bool = False
    repro_runs: int = 1


@dataclass
class Revision:
    label: str  # base or head
    rev: str  # what the user named: a git revision or a directory
    sha: str | None
    dir: Path
    image: str = ""
    module: str = ""


@dataclass
class BucketResult:
    id: str
    title: str
    first_found_s: float | None
    entries: list[str] = field(default_factory=list)
    repro: str = "none"  # the store's status: reproduced k/n, flaky, failed, none
    files: dict[str, str] = field(default_factory=dict)  # prog, c, md -> path
    message: str = ""


@dataclass
class CampaignResult:
    dir: str = ""
    spec: str = ""
    doors: list[str] = field(default_factory=list)
    ended: str = ""
    error: str = ""
    elapsed_s: float = 0.0
    execs: int = 0
    edges: int = 0
    entries: list[EntryStats] = field(default_factory=list)
    buckets: list[BucketResult] = field(default_factory=list)
    skipped: str = ""  # why no campaign ran


@dataclass
class Review:
    driver: str
    base: Revision
    head: Revision
    changes: list[Change]
    findings: list[Finding]
    campaign: CampaignResult
    budget_s: float
    started: float
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for r in ("base", "head"):
            d[r]["dir"] = str(d[r]["dir"])
        return d

    def failed(self, fail_on: tuple[str, ...]) -> list[str]:
        """Sentences for what `fail_on` (crash, high, medium, low) makes fail.

        A campaign that ran and did no work fails whatever `fail_on` says: no
        crash from it means nothing then.
        """
        out = []
        c = self.campaign
        idle = not c.execs and not c.buckets  # a first program that crashed is work done
        if not c.skipped and (c.ended in ("infra", "error") or idle):
            out.append(f"the focused campaign did no work ({c.ended}): {c.error or '0 executions'}")
        if "crash" in fail_on and self.campaign.buckets:
            out.append(f"{len(self.campaign.buckets)} crash bucket(s) in the focused campaign")
        for sev in ("high", "medium", "low"):
            n = sum(1 for f in self.findings if f.severity == sev)
            if sev in fail_on and n:
                out.append(f"{n} {sev}-severity finding(s)")
        return out


def revisions(opts: ReviewOptions, cache: Path) -> tuple[Revision, Revision]:
    """The two driver directories: exported git revisions, or the directories given."""
    from rig.image import revision

    if opts.base_dir is not None or opts.head_dir is not None:
        if opts.base_dir is None or opts.head_dir is None:
            raise ConfigError("give both --base-dir and --head-dir, or --driver with --base/--head")
        if opts.base or opts.head:
            raise ConfigError(
                "--base/--head name git revisions; with --base-dir/--head-dir drop them"
            )
        for d in (opts.base_dir, opts.head_dir):
            if not d.is_dir():
                raise ConfigError(f"{d} is not a directory")
        return (
            Revision("base", str(opts.base_dir), None, opts.base_dir.resolve()),
            Revision("head", str(opts.head_dir), None, opts.head_dir.resolve()),
        )
    if opts.driver is None or not opts.base or not opts.head:
        raise ConfigError(
            "give --driver DIR with --base REV and --head REV (or --base-dir/--head-dir)"
        )
    out = []
    for label, rev in (("base", opts.base), ("head", opts.head)):
        d, sha = revision.export(opts.driver, rev, cache)
        out.append(Revision(label, rev, sha, d))
    if out[0].sha == out[1].sha:
        raise ConfigError(
            f"--base {opts.base} and --head {opts.head} are the same commit ({out[0].sha})"
        )
    return out[0], out[1]


def built_module(home_root: Path, image: Image) -> Path:
    """The very .ko an image holds: the build cache's copy whose sha256 the manifest records."""
    want = image.manifest["sha256"]["module.ko"]
    for ko in sorted((home_root / "cache" / "build").glob(f"*/{image.module}.ko")):
        if hashlib.sha256(ko.read_bytes()).hexdigest() == want:
            return ko
    raise ConfigError(f"image {image.id}: its {image.module}.ko is no longer in the build cache")


def surface_of(
    ctx: RunContext, rev: Revision, opts: ReviewOptions, say: Callable[[str], None]
) -> tuple[Surface, Image, Path]:
    from rig.spec import import_module
    from rig.spec import probe as probemod

    t0 = time.monotonic()
    image = ctx.build_image(rev.dir, opts.module, opts.params)
    rev.image, rev.module = image.id, image.module
    ko = built_module(ctx.home.root, image)
    say(f"{rev.label} {rev.rev}: image {image.id} ({time.monotonic() - t0:.0f}s)")
    listing, policies = None, None
    if opts.probe:
        families = tuple(f.name for f in import_module.genl_families(ko))
        with ctx.open() as host:
            found = probemod.probe(host, image, families)
        listing, policies = found.listing, found.policies
    s = discover(image.module, rev.dir, ko, opts.header, listing, policies, opts.devices, say)
    spec = s.spec
    say(
        f"{rev.label}: {len(spec.ioctls)} ioctls, {sum(len(f.commands) for f in spec.families)} "
        f"genl commands, {len(spec.files)} files, {len(spec.links)} link kinds"
    )
    return s, image, ko


def review(
    ctx: RunContext, opts: ReviewOptions, out_dir: Path, say: Callable[[str], None] = log.info
) -> Review:
    started = time.time()
    t0 = time.monotonic()
    base, head = revisions(opts, ctx.home.root / "cache")
    base_s, _, _ = surface_of(ctx, base, opts, say)
    head_s, head_image, _ = surface_of(ctx, head, opts, say)
    changes = diff(base_s, head_s)
    found = [relative(f, head.dir) for f in new_findings(base_s, head_s)]
    for c in changes:
        say(f"  {c.status:8} {c.kind:5} {c.name}")
    for f in found:
        say(f"  [{f.severity}] {f.rule} {f.entry}: {f.message}")
    result = Review(
        str(opts.driver or ""), base, head, changes, found, CampaignResult(), opts.budget_s, started
    )
    result.campaign = campaign(ctx, opts, head, head_s, head_image, changes, out_dir, say)
    result.elapsed_s = round(time.monotonic() - t0, 1)
    return result


def campaign(
    ctx: RunContext,
    opts: ReviewOptions,
    head: Revision,
    head_s: Surface,
    image: Image,
    changes: list[Change],
    out_dir: Path,
    say: Callable[[str], None],
) -> CampaignResult:
    from rig.campaign.options import CampaignOptions
    from rig.campaign.runner import Campaign, prepare, run
    from rig.crash.store import CampaignBucket
    from rig.smoke import campaign_name
    from rig.spec.load import dump

    res = CampaignResult()
    t0 = time.monotonic()  # the budget is the campaign's and its reproductions'
    spec = focus(head_s.spec, changes)
    res.doors = list(doors(spec))
    if not opts.fuzz:
        res.skipped = "--no-fuzz"
        return res
    if not res.doors:
        res.skipped = "no entry point was added or changed"
        return res
    spec_path = (out_dir / "focus.yaml").resolve()  # workers read it from their own cwd
    out_dir.mkdir(parents=True, exist_ok=True)
    dump(spec_path, spec, "rig review: the head's added and changed entry points")
    res.spec = str(spec_path)
    copts = CampaignOptions(
        driver=str(head.dir),
        module=image.module,
        bugs="",
        vms=opts.vms,
        duration_s=opts.budget_s,
        engine=opts.engine,
        doors=tuple(res.doors),
        seed=opts.seed,
        spec=str(spec_path),
        params=opts.params,
    )
    camp = prepare(ctx, ctx.home.campaign(campaign_name("review")), copts, {}, image=image)
    res.dir = str(camp.dir.path)
    say(f"focused campaign on {', '.join(res.doors)} for {opts.budget_s:.0f}s: {camp.dir.path}")

    def stop_at_first(c: Campaign, fresh: list[CampaignBucket]) -> None:
        for b in fresh:
            say(f"  crash: {b.title}")
        if fresh and not opts.keep_going:
            c.stop_requested = True

    p = run(camp, lambda _p: None, stop_at_first)
    res.ended, res.error = p.ended, p.error
    res.elapsed_s, res.execs, res.edges = round(p.elapsed_s, 1), p.execs, p.edges
    say(f"campaign {p.ended}: {p.execs} executions, {p.edges} edges, {len(p.buckets)} bucket(s)")
    crashes = ctx.home.root / "crashes"
    programs: dict[str, str] = {}
    for b in p.buckets:
        d = crashes / b.id
        texts = [f.read_text(errors="replace") for f in sorted(d.glob("prog*")) if f.is_file()]
        programs[b.id] = "\n".join(texts)
        res.buckets.append(BucketResult(b.id, b.title, p.first_found_s.get(b.id)))
    res.entries = count(camp.dir.path, spec, changes, p.doors, programs)
    for br in res.buckets:
        br.entries = [e.key for e in res.entries if br.id in e.crashes]
        reproduce_bucket(ctx, br, opts, t0, say)
        if "prog" in br.files:  # the minimised program names the entry point best
            text = Path(br.files["prog"]).read_text(errors="replace")
            got = count_text(spec, changes, text)
            br.entries = got or br.entries
    return res


def count_text(spec: Any, changes: list[Change], text: str) -> list[str]:
    from rig.review.focus import _hits, matchers

    patterns, genl = matchers(spec, changes)
    return [k for k, n in _hits(text, patterns, genl).items() if n]


def reproduce_bucket(
    ctx: RunContext,
    br: BucketResult,
    opts: ReviewOptions,
    t0: float,
    say: Callable[[str], None],
) -> None:
    from rig.repro.reproduce import reproduce

    budget = max(MIN_REPRO_S, opts.budget_s - (time.monotonic() - t0))
    say(f"reproducing {br.id[:12]} ({br.title}) within {budget:.0f}s")
    # No spec: the crash record keeps the agent configuration the campaign ran under.
    r = reproduce(ctx, br.id, budget, runs=opts.repro_runs, campaign_ctx=True)
    br.repro = str(r.status)
    br.files = {k: str(v) for k, v in r.files.items()}
    br.message = r.message
    say(f"  {r.status}: {r.message}")


def relative(f: Finding, root: Path) -> Finding:
    """`f` located relative to the driver directory: DWARF names files as the build saw them.

    A module is built in a copy of the driver directory under the home's
    build cache, so the longest tail of a DWARF path that exists under the
    driver directory is the file a reviewer knows.
    """
    loc = f.location
    if loc is None:
        return f
    parts = Path(loc.file.removeprefix("./")).parts
    for i in range(len(parts)):
        tail = Path(*parts[i:])
        if (root / tail).is_file():
            return dataclasses.replace(f, location=Location(str(tail), loc.line))
    return f


def fallback_uri(review: Review, header: str | None) -> str:
    """Where SARIF puts what no line locates: the header, else the driver's first C file."""
    if header:
        return header
    sources = sorted(p.name for p in review.head.dir.glob("*.c"))
    return sources[0] if sources else "Kbuild"
