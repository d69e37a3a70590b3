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

from rig.campaign.directory import read_edges
from rig.campaign.options import CampaignOptions
from rig.campaign.runner import Progress, prepare, run
from rig.cli.image import REPO_DRIVER
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import ConfigError, RigError
from rig.gen.build import DOORS
from rig.image.module import coverage_sites, find_built
from rig.smoke import campaign_name

BUNDLED = f"boundary={REPO_DRIVER}:{REPO_DRIVER.parent / 'corpora' / 'specs' / 'boundary.yaml'}"


def parse_target(text: str) -> tuple[str, Path, Path]:
    """NAME=DRIVER_DIR:SPEC."""
    name, eq, rest = text.partition("=")
    driver, colon, spec = rest.rpartition(":")
    if not (eq and colon and name and driver and spec):
        raise ConfigError(f"--target {text!r}: expected NAME=DRIVER_DIR:SPEC")
    return name, Path(driver).resolve(), Path(spec).resolve()


def measure(
    ctx: RunContext, name: str, driver: Path, spec: Path, seconds: float, vms: int, engine: str
) -> dict[str, Any]:
    opts = CampaignOptions(
        driver=str(driver),
        module=None,
        bugs="",
        vms=vms,
        duration_s=seconds,
        engine=engine,
        doors=DOORS,
        seed=0,
        spec=str(spec),
    )
    camp = prepare(ctx, ctx.home.campaign(campaign_name(f"bench-drivers-{name}")), opts, {})
    p: Progress = run(camp, lambda _p: None)
    pcs: set[int] = set()
    for slot in range(vms):
        pcs |= {e & 0xFFFFFFFF for e in read_edges(camp.dir.worker(slot) / "edges.bin")}
    module = str(camp.image.manifest["module"]["name"])
    sites = coverage_sites(find_built(ctx.home.root / "cache" / "build", module))
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
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    click.echo(json.dumps(results, sort_keys=True))
