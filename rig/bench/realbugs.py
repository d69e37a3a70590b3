"""Real historical bugs (tests/realbugs/): found or not, given only the module and live discovery.

Each bug is an upstream fix to a stock Debian 6.1 module, reverted by hand
in one file (`revert.patch`, built from `driver/`). For each, the module is
rebuilt with rigcov and booted; its spec is written the way a new user
would write it, from the module itself (DWARF: generic netlink families,
rtnetlink link kinds, netlink policies) and what a probe of the running
guest lists (device nodes, files, live policy dumps), plus a public UAPI
header and device node where the bug's table names them; nothing names the
bug. Then one campaign per bug runs for the budget, with the engine and the
ABIs the campaign chooses for the module (both when it has its own
compat_ioctl). Reported: found/N, time to find (campaign time), and false
buckets (kernel reports that are not the bug).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import click

from rig.bugtable import RealBug, by_title, load_real
from rig.campaign.options import CampaignOptions
from rig.campaign.runner import Campaign, Progress, prepare, run
from rig.cli.image import REPO_DRIVER
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.crash.store import CampaignBucket
from rig.errors import ConfigError, RigError
from rig.gen.build import DOORS
from rig.image.build import Image
from rig.image.module import find_built
from rig.smoke import campaign_name
from rig.spec import import_module
from rig.spec import probe as probemod
from rig.spec.assemble import Sources, assemble
from rig.spec.load import dump

REALBUGS = REPO_DRIVER.parent / "tests" / "realbugs"


def spec_for(ctx: RunContext, bug: RealBug, image: Image, work: Path) -> Path:
    """The spec a new user would write for the module: module + live probe (+ public header)."""
    ko = find_built(ctx.home.root / "cache" / "build", bug.module)
    families = tuple(f.name for f in import_module.genl_families(ko))
    with ctx.open() as host:
        found = probemod.probe(host, image, families)
    paths = probemod.save(found, work / "probe")
    header = (Path(bug.header),) if bug.header else ()
    device = (bug.device,) if bug.device else ()
    src = Sources(
        bug.module,
        headers=header,
        devices=device,
        listing=paths[0],
        policies=tuple(paths[1:]),
        module=ko,
    )
    spec = assemble(src)
    if spec.paths == () and not spec.families and not spec.links:
        raise ConfigError(f"{bug.name}: discovery found no door into {bug.module}")
    out = work / f"{bug.module}.yaml"
    dump(out, spec, f"rig bench realbugs: {bug.name}, from {bug.module}.ko and a live probe")
    return out


class Finder:
    """Stops the campaign at the bug's first bucket; every other bucket is a false one."""

    def __init__(self, bug: RealBug) -> None:
        self.bug = bug
        self.found_s: float | None = None
        self.false: list[str] = []

    def __call__(self, camp: Campaign, fresh: list[CampaignBucket]) -> None:
        for bucket in fresh:
            if by_title([self.bug.bug], bucket.title) is None:
                self.false.append(bucket.title)
            elif self.found_s is None:
                self.found_s = round(bucket.first_seen - camp.wall_started, 1)
                camp.stop_requested = True


def measure(
    ctx: RunContext, bug: RealBug, seconds: float, vms: int, engine: str, say: Any
) -> dict[str, Any]:
    """One bug: rebuild, discover, fuzz for `seconds`; what was found and when."""
    t0 = time.monotonic()
    image = ctx.build_image(bug.driver, bug.module, bug.params)
    camp_dir = ctx.home.campaign(campaign_name(f"bench-realbugs-{bug.name}"))
    spec = spec_for(ctx, bug, image, camp_dir.with_name(f"{camp_dir.name}-spec"))
    setup_s = round(time.monotonic() - t0, 1)
    opts = CampaignOptions(
        driver=str(bug.driver),
        module=bug.module,
        bugs="",
        vms=vms,
        duration_s=seconds,
        engine=engine,
        doors=DOORS,
        seed=0,
        spec=str(spec),
        params=bug.params,
    )
    camp = prepare(ctx, camp_dir, opts, {}, image=image)
    say(f"{bug.name}: {camp.opts.abi_reason or camp.opts.abis}; campaign {camp.dir.path}")
    finder = Finder(bug)
    p: Progress = run(camp, lambda _p: None, finder)
    return {
        "module": bug.module,
        "needs": bug.needs,
        "fix": bug.fix.get("commit", ""),
        "campaign": str(camp.dir.path),
        "spec": str(spec),
        "abis": list(camp.opts.abis or ()),
        "setup_s": setup_s,
        "found": finder.found_s is not None,
        "time_to_find_s": finder.found_s,
        "false_buckets": finder.false,
        "ended": p.ended,
        "error": p.error,
        "execs": p.execs,
        "execs_per_s": round(p.execs / p.elapsed_s, 1) if p.elapsed_s else 0.0,
        "edges": p.edges,
        "elapsed_s": round(p.elapsed_s, 1),
    }


@click.command()
@home_option
@click.option("--duration", type=DURATION, default="10m", show_default=True, help="Budget per bug.")
@click.option("--engine", default="atheris", show_default=True)
@click.option("--vms", default=2, show_default=True)
@click.option("--bug", "names", multiple=True, help="Only these bugs (repeatable).")
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=REALBUGS,
    show_default=True,
    help="Where the bugs are (NAME/bug.toml).",
)
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    duration: float,
    engine: str,
    vms: int,
    names: tuple[str, ...],
    root: Path,
    uri: str,
    as_json: bool,
) -> None:
    """Per real bug: found within the budget or not, time to find, false buckets."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    say = (lambda s: None) if as_json else click.echo
    bugs = load_real(root)
    unknown = set(names) - {b.name for b in bugs}
    if unknown:
        raise ConfigError(f"no real bug {', '.join(sorted(unknown))} under {root}")
    bugs = [b for b in bugs if not names or b.name in names]
    results: dict[str, Any] = {"duration_s": duration, "engine": engine, "vms": vms, "bugs": {}}
    for bug in bugs:
        say(f"{bug.name} ({bug.module}, needs {bug.needs}): {duration:.0f}s of {engine}")
        try:  # one bug failing must not lose the others' figures
            r = measure(rc, bug, duration, vms, engine, say)
        except RigError as e:
            r = {"module": bug.module, "needs": bug.needs, "found": False, "error": str(e)}
        results["bugs"][bug.name] = r
        if not as_json:
            t = r.get("time_to_find_s")
            found = "not found" if t is None else f"found after {t:.0f}s"
            click.echo(
                f"  {found}, "
                f"{len(r.get('false_buckets', []))} false bucket(s), "
                f"{r.get('execs_per_s')} execs/s {r.get('error', '')}"
            )
    rows = results["bugs"].values()
    times = [r["time_to_find_s"] for r in rows if r.get("time_to_find_s") is not None]
    results["found"] = sum(1 for r in rows if r.get("found"))
    results["of"] = len(bugs)
    results["median_time_to_find_s"] = statistics.median(times) if times else None
    results["false_buckets"] = sum(len(r.get("false_buckets", [])) for r in rows)
    results["errors"] = sum(1 for r in rows if r.get("error"))
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    click.echo(json.dumps(results, sort_keys=True))
