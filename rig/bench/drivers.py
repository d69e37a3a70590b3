"""How far fuzzing gets into drivers the rig did not write, through rigcov: one campaign per target.

A target is a driver directory and its spec (`rig image intree` makes one of
an in-tree module, `rig spec import` its spec). For each, one campaign of
the same length and engine reports the coverage edges, the PCs reached out of
the module's trace-pc call sites (its block coverage), executions/s and the
buckets found. The bundled driver is always one target, as the reference.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from rig.bench import clean_campaign
from rig.campaign.directory import read_edges
from rig.cli.image import REPO_DRIVER
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import ConfigError, RigError
from rig.image import revision
from rig.image.module import coverage_sites, find_built

BUNDLED = f"boundary={REPO_DRIVER}:{REPO_DRIVER.parent / 'corpora' / 'specs' / 'boundary.yaml'}"


def parse_target(text: str) -> tuple[str, Path, Path]:
    """NAME=DRIVER_DIR:SPEC."""
    name, eq, rest = text.partition("=")
    driver, colon, spec = rest.rpartition(":")
    if not (eq and colon and name and driver and spec):
        raise ConfigError(f"--target {text!r}: expected NAME=DRIVER_DIR:SPEC")
    return name, Path(driver).resolve(), Path(spec).resolve()


# The bundled driver carried coverage hooks of its own until rigcov replaced
# them; that commit's parent and the commit itself differ in the hooks alone.
OWN_HOOKS_FILE = "driver/boundary_cov.c"
OWN_COVERAGE_FILE = "/sys/kernel/debug/boundary/cov"


def measure(
    ctx: RunContext,
    name: str,
    driver: Path,
    spec: Path,
    seconds: float,
    vms: int,
    engine: str,
    own_hooks: bool = False,
) -> dict[str, Any]:
    """One campaign on `driver`; `own_hooks`: built as it is, its own hooks export coverage."""
    image = ctx.build_image(driver, None, "", coverage=not own_hooks)
    camp, p = clean_campaign(
        ctx, f"bench-drivers-{name}", driver, spec, image, vms=vms, seconds=seconds,
        engine=engine, coverage_file=OWN_COVERAGE_FILE if own_hooks else "",
    )  # fmt: skip
    pcs: set[int] = set()
    for slot in range(vms):
        pcs |= {e & 0xFFFFFFFF for e in read_edges(camp.dir.worker(slot) / "edges.bin")}
    module = str(camp.image.manifest["module"]["name"])
    ko_sha = camp.image.manifest["sha256"]["module.ko"]
    sites = coverage_sites(find_built(ctx.home.root / "cache" / "build", module, ko_sha))
    return {
        "module": module,
        "campaign": str(camp.dir.path),
        "ended": p.ended,
        "error": p.error,
        "warnings": p.warnings,
        "elapsed_s": round(p.elapsed_s, 1),
        "execs": p.execs,
        "execs_per_s": round(p.execs / p.elapsed_s, 1) if p.elapsed_s else 0.0,
        "edges": p.edges,
        "pcs_reached": len(pcs),
        "pc_sites": sites,
        "block_coverage": round(len(pcs) / sites, 3) if sites else None,
        "buckets": [b.title for b in p.buckets],
    }


@click.command()
@home_option
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="NAME=DRIVER_DIR:SPEC, repeatable; the bundled driver is always measured too.",
)
@click.option("--duration", type=DURATION, default="10m", show_default=True, help="Per target.")
@click.option("--engine", default="atheris", show_default=True)
@click.option("--vms", default=2, show_default=True)
@click.option(
    "--hooks/--no-hooks",
    default=True,
    show_default=True,
    help="Also measure the bundled driver with its former private hooks against rigcov.",
)
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    targets: tuple[str, ...],
    duration: float,
    engine: str,
    vms: int,
    hooks: bool,
    uri: str,
    as_json: bool,
) -> None:
    """Per target driver: coverage edges, block coverage of the module, executions/s, buckets."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    results: dict[str, Any] = {"duration_s": duration, "engine": engine, "vms": vms, "targets": {}}
    for text in (BUNDLED, *targets):
        name, driver, spec = parse_target(text)
        if not as_json:
            click.echo(f"{name}: {duration:.0f}s of {engine} on {vms} VMs ({driver})")
        try:  # one target failing must not lose the others' figures
            r = measure(rc, name, driver, spec, duration, vms, engine)
        except RigError as e:
            r = {"error": str(e)}
        results["targets"][name] = r
        if not as_json:
            click.echo(
                f"  {r.get('edges')} edges, {r.get('pcs_reached')}/{r.get('pc_sites')} PCs "
                f"({r.get('block_coverage')}), {r.get('execs_per_s')} execs/s, "
                f"{len(r.get('buckets', []))} bucket(s) {r.get('error', '')}"
            )
    if hooks:
        results["hooks"] = compare_hooks(rc, duration, vms, engine, as_json)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    click.echo(json.dumps(results, sort_keys=True))


def compare_hooks(
    ctx: RunContext, seconds: float, vms: int, engine: str, quiet: bool
) -> dict[str, Any]:
    """Edges of the bundled driver through its former private hooks and through rigcov.

    The same driver code twice: the revision before the hooks were dropped,
    built as it was (its own hooks, its own coverage file), and the revision
    that dropped them, built with rigcov. Both run on that revision's spec.
    """
    cache = ctx.home.root / "cache"
    try:
        dropped = revision.last_change(REPO_DRIVER, OWN_HOOKS_FILE)
        own_dir, own_sha = revision.export(REPO_DRIVER, f"{dropped}^", cache)
        new_dir, _ = revision.export(REPO_DRIVER, dropped, cache)
        spec = new_dir.parent / "corpora" / "specs" / "boundary.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(revision.show(REPO_DRIVER, dropped, "corpora/specs/boundary.yaml"))
    except RigError as e:
        return {"error": str(e)}
    out: dict[str, Any] = {"own_hooks_revision": own_sha, "rigcov_revision": dropped}
    for key, driver, own in (("own_hooks", own_dir, True), ("rigcov", new_dir, False)):
        if not quiet:
            click.echo(f"boundary, {key.replace('_', ' ')}: {seconds:.0f}s of {engine} ({driver})")
        try:
            out[key] = measure(ctx, f"boundary-{key}", driver, spec, seconds, vms, engine, own)
        except RigError as e:
            out[key] = {"error": str(e)}
    a, b = out["own_hooks"].get("edges"), out["rigcov"].get("edges")
    if a and b is not None:
        out["rigcov_over_own_hooks"] = round(b / a, 3)
    if not quiet:
        click.echo(f"  edges: own hooks {a}, rigcov {b} ({out.get('rigcov_over_own_hooks')})")
    return out
