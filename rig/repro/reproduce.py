"""Reproduce one crash end to end: search, minimise, write repro.prog/.c/.md, verify, record status.

`reproduce()` is what `rig repro` runs and what a campaign can run in a
background thread for a new bucket (pass `stop` to end it early; VMs it
booted are destroyed however it ends). A crash counts as reproduced only
when a fresh VM showed the same title again (fresh: booted cold, or
restored from the image's snapshot, which was saved before any host spoke
to its agent and before any program ran); the C reproducer is compiled
statically on the host and run through the agent in fresh VMs, and its
runs give the reliability that is stored (k of n runs with the same title).
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rig.campaign.directory import CampaignDir
from rig.config import Limits
from rig.context import RunContext
from rig.crash.store import CrashStore, ReproStatus
from rig.deadline import Deadline
from rig.errors import BuildError, ConfigError
from rig.guest.proglog import format_record
from rig.guest.surface import config_for, spec_config
from rig.prog import text
from rig.prog.program import Program
from rig.repro import csource, inputs
from rig.repro.minimize import minimize
from rig.repro.oracle import Oracle, OutOfBudget, Runner, Step
from rig.repro.replay import VmReplayer
from rig.repro.report import ReportFacts, render
from rig.repro.search import extract
from rig.spec.types import Spec
from rig.util import atomic_write
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 600.0
DEFAULT_RUNS = 3
TRIES = 3  # per candidate in the search: enough to tell a flaky crash from none


@dataclass
class ReproResult:
    """What reproduction of one crash gave; `reproduced` only after a fresh VM showed the title."""

    crash: str
    bucket_id: str | None
    title: str | None
    reproduced: bool = False
    c_verified: bool = False
    status: ReproStatus = field(default_factory=ReproStatus)
    programs: list[Program] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    runs_ok: int = 0
    runs: int = 0
    program_tries: int = 0  # tries of the final program during the search (and its hits)
    program_hits: int = 0
    found_by: str = ""
    minimized: bool = False  # every minimisation pass ran to its end
    seconds: float = 0.0
    time_to_verified_s: float | None = None
    boots: int = 0
    replays: int = 0
    message: str = ""
    steps: list[Step] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(p.calls) for p in self.programs)

    def summary(self) -> dict[str, object]:
        return {
            "crash": self.crash,
            "bucket": self.bucket_id,
            "title": self.title,
            "reproduced": self.reproduced,
            "c_verified": self.c_verified,
            "status": str(self.status),
            "reliability": f"{self.runs_ok}/{self.runs}",
            "calls": self.calls,
            "programs": len(self.programs),
            "found_by": self.found_by,
            "minimized": self.minimized,
            "seconds": round(self.seconds, 1),
            "time_to_verified_s": None
            if self.time_to_verified_s is None
            else round(self.time_to_verified_s, 1),
            "boots": self.boots,
            "replays": self.replays,
            "files": {k: str(v) for k, v in self.files.items()},
            "message": self.message,
        }


def campaign_context(ctx: RunContext, campaign: str | None) -> RunContext:
    """The context `campaign` ran under, if it saved one; else `ctx`. Snapshots stay `ctx`'s."""
    if campaign is None:
        return ctx
    cd = CampaignDir(ctx.home.campaign(campaign))
    try:
        return cd.context(ctx.home).with_snapshots(ctx.snapshots)
    except ConfigError:
        return ctx  # not a campaign directory (a `rig run` or test), or an older one


def _program_text(programs: list[Program], header: text.Header) -> str:
    if len(programs) == 1:
        return text.dumps(programs[0], header)
    # Several programs, each in its own child as the agent ran them: a program log.
    return "".join(
        format_record(i + 1, text.ProgramFile(p, header)) for i, p in enumerate(programs)
    )


def _status(ok: int, runs: int) -> ReproStatus:
    if runs and ok == runs:
        return ReproStatus("reproduced", ok, runs)
    if ok:
        return ReproStatus("flaky", ok, runs)
    return ReproStatus("failed", 0, runs)


def reproduce(
    ctx: RunContext,
    crash: str | Path,
    budget_s: float = DEFAULT_BUDGET_S,
    *,
    runs: int = DEFAULT_RUNS,
    image: str | None = None,
    host: VmHost | None = None,
    stop: threading.Event | None = None,
    record_status: bool = True,
    replayer: Runner | None = None,
    campaign_ctx: bool = False,
    spec: Spec | None = None,
) -> ReproResult:
    """Reproduce CRASH (bucket id or prefix, crash directory, program file) within `budget_s`.

    Bad input raises ConfigError before any VM boots; a crash that does not
    come back is a result with `reproduced=False` and a message, never an error.
    `replayer` replaces the VMs (tests); otherwise `host` (default: the
    context's own connection) boots them. With `campaign_ctx`, a crash of a
    campaign is reproduced under the context that campaign saved (its
    connection and limits), as `rig repro` does unless told a URI. `spec`
    sets what the programs may touch, for a loose program file whose image
    records no agent configuration (a `/dev/video0` of module uvcvideo).
    """
    t0 = time.monotonic()
    home, limits = ctx.home, ctx.limits
    inp = inputs.load(home, str(crash), image)
    ctx = campaign_context(ctx, inp.campaign) if campaign_ctx else ctx
    limits = ctx.limits
    own_host = replayer is None and host is None
    if replayer is None:
        if host is None:
            host = ctx.open()
        tag = (inp.bucket_id or Path(inp.source).stem)[:8]
        replayer = VmReplayer(
            host,
            inp.image,
            campaign=f"repro-{tag}-{time.strftime('%H%M%S')}",
            config=(
                spec_config(spec, limits.call_s)
                if spec is not None
                else config_for(inp.manifest, inp.image.module, limits.call_s)
            ),
            header=inp.header,
        )
    deadline = Deadline(budget_s)
    oracle = Oracle(replayer, inp.title, deadline, tries=TRIES, stop=stop)
    result = ReproResult(str(crash), inp.bucket_id, inp.title)
    try:
        _run(inp, replayer, oracle, result, runs, deadline, limits, t0)
    finally:
        replayer.close()
        if own_host and host is not None:
            host.close()
        result.seconds = time.monotonic() - t0
        result.boots = replayer.boots
        result.replays = oracle.runs
        result.steps = list(oracle.steps)
        result.title = oracle.title
    stopped = stop is not None and stop.is_set()
    if stopped:
        result.message = f"stopped on request; {result.message}"
    # A reproduction cut short by its caller says nothing about the bucket.
    if record_status and inp.bucket_id is not None and not stopped:
        with CrashStore.open(home.root) as store:
            store.set_repro_status(inp.bucket_id, result.status)
    if result.files:
        _write_md(inp, result, oracle)
    return result


def _run(
    inp: inputs.CrashInput,
    replayer: Runner,
    oracle: Oracle,
    result: ReproResult,
    runs: int,
    deadline: Deadline,
    limits: Limits,
    t0: float,
) -> None:
    try:
        found = extract(inp.entries, inp.last_seq, oracle)
    except OutOfBudget as e:
        found = None
        result.message = f"not reproduced: {e} before any candidate crashed"
    if found is None:
        result.status = ReproStatus("failed", 0, 0)
        if not result.message:
            want = f"with {oracle.title!r}" if oracle.title else "at all"
            others = ", ".join(f"{t!r} x{n}" for t, n in oracle.other_titles.items())
            result.message = f"not reproduced: no replay of {inp.source} crashed {want}" + (
                f" (other titles: {others})" if others else ""
            )
        return
    result.reproduced = True
    result.found_by = found.phase
    # Keep enough of the budget to verify: each run costs about what a crashing try cost.
    crash_s = max(oracle.attempts(found.programs).hit_seconds or [60.0])
    reserve = runs * (crash_s * 1.3 + 5) + 15
    oracle.deadline = Deadline(max(0.0, deadline.remaining() - reserve))
    mini = minimize(found.programs, oracle, 1 if found.first_try else TRIES)
    result.minimized = mini.complete
    result.programs = mini.programs
    seen = oracle.attempts(mini.programs)
    result.program_tries, result.program_hits = seen.tries, seen.hits
    inp.out_dir.mkdir(parents=True, exist_ok=True)
    prog_path = inp.out_dir / "repro.prog"
    atomic_write(prog_path, _program_text(mini.programs, inp.header).encode())
    result.files["prog"] = prog_path
    _verify(inp, replayer, oracle, result, runs, limits, t0)


def _verify(
    inp: inputs.CrashInput,
    replayer: Runner,
    oracle: Oracle,
    result: ReproResult,
    runs: int,
    limits: Limits,
    t0: float,
) -> None:
    binary = None
    try:
        source = csource.generate(
            result.programs,
            replayer.agent_config,
            title=oracle.title or "",
            header=inp.header,
            notes=[f"Bucket {inp.bucket_id}" if inp.bucket_id else f"From {inp.source}"],
        )
        c_path = inp.out_dir / "repro.c"
        atomic_write(c_path, source.encode())
        result.files["c"] = c_path
        with tempfile.TemporaryDirectory(prefix="rig-repro-") as tmp:
            binary = csource.compile_static(source, Path(tmp) / "repro").read_bytes()
    except BuildError as e:  # programs of both ABIs, or a compiler that refuses
        result.message = f"{e}; reliability measured with repro.prog instead"
    replayer.discard()  # verification runs on fresh VMs only
    calls = sum(len(p.calls) for p in result.programs)
    timeout = calls * limits.call_s + limits.binary_slack_s
    ok = done = 0
    for i in range(runs):
        if oracle.stop is not None and oracle.stop.is_set():
            break
        done += 1
        if binary is not None:
            v = replayer.run_binary(binary, ("repro",), timeout)
        else:
            replayer.discard()
            v = replayer.replay(result.programs)
        hit = v.title is not None and v.title == oracle.title
        log.info("verification run %d/%d: %s", i + 1, runs, v.title or "no crash")
        if hit:
            ok += 1
            if result.time_to_verified_s is None:
                result.time_to_verified_s = time.monotonic() - t0
        elif v.title is not None:
            oracle.other_titles[v.title] += 1
    result.runs_ok, result.runs = ok, done
    result.c_verified = binary is not None and ok > 0
    result.status = _status(ok, done)
    what = "repro.c" if binary is not None else "repro.prog"
    if ok == 0:
        result.message = (
            f"the program reproduces but {what} showed {oracle.title!r} in none of {done} fresh VMs"
        )
    elif not result.message:
        result.message = f"reproduced: {what} showed the same title in {ok} of {done} fresh VMs"


def _abi(programs: list[Program]) -> int:
    """The ABI repro.c is built for (64 when there is none, for programs of both)."""
    try:
        return csource.program_abi(programs)
    except BuildError:
        return 64


def _write_md(inp: inputs.CrashInput, result: ReproResult, oracle: Oracle) -> None:
    facts = ReportFacts(
        title=result.title or "(unknown)",
        bucket_id=inp.bucket_id,
        manifest=inp.image.manifest,
        source=inp.source,
        program_text=_program_text(result.programs, inp.header) if result.programs else "",
        calls=result.calls,
        programs=len(result.programs),
        found_by=result.found_by,
        minimized=result.minimized,
        runs_ok=result.runs_ok,
        runs=result.runs,
        c_verified=result.c_verified,
        program_hits=result.program_hits,
        program_tries=result.program_tries,
        seconds=result.seconds,
        boots=result.boots,
        replays=result.replays,
        steps=result.steps,
        other_titles=dict(oracle.other_titles),
        message=result.message,
        c_build=csource.build_command(_abi(result.programs)),
    )
    md = inp.out_dir / "repro.md"
    atomic_write(md, render(facts).encode())
    result.files["md"] = md
    manifest = inp.out_dir / inputs.MANIFEST_FILE
    if not manifest.exists():
        # Names the image the reproducer needs; `rig image prune` keeps images crashes name.
        atomic_write(manifest, (json.dumps(inp.image.manifest, indent=2) + "\n").encode())
