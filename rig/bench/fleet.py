"""How a campaign scales over libvirt hosts, and what a remote host's streams cost, in one run.

Three campaigns of the same length, engine and seed on the bundled driver
(no planted bugs): 1 VM on this host, 2 VMs on this host, and 1 VM here
plus 1 VM on a second libvirt host. Each reports programs/s and the CPU
the rig itself spent per VM (the campaign process and its workers, from
getrusage; QEMU is libvirt's child, not ours, and is left out). Scaling
is the fleet's programs/s over twice the single VM's.

Then the transport alone: the same empty program, one at a time, through
a VM on this host (pty console, unix-socket channel) and through one on
the second host (console and channel as libvirt streams), in ms per
program. With no `--remote`, the second host is a second libvirtd started
on this machine (rig.host.extra), so the difference is the streams' and
the TCP connection's, not a network's.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from rig.bench import clean_campaign
from rig.cli.image import REPO_DRIVER
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import RigError
from rig.fleet.hosts import Host
from rig.guest.surface import default_config
from rig.host.extra import ExtraLibvirtd
from rig.image.build import Image
from rig.prog.program import Program
from rig.smoke import campaign_name

SPEC = REPO_DRIVER.parent / "corpora" / "specs" / "boundary.yaml"


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have exited (the workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def campaign(
    ctx: RunContext, name: str, hosts: tuple[Host, ...], seconds: float, engine: str, image: Image
) -> dict[str, Any]:
    vms = sum(h.vms for h in hosts)
    cpu0, t0 = _cpu_s(), time.monotonic()
    _camp, p = clean_campaign(
        ctx, f"bench-fleet-{name}", REPO_DRIVER, SPEC, image, vms=vms, seconds=seconds,
        engine=engine, hosts=hosts,
    )  # fmt: skip
    wall, cpu = time.monotonic() - t0, _cpu_s() - cpu0
    per_host: dict[str, int] = {}
    for w in p.workers:
        host = str(w.get("host", ""))
        per_host[host] = per_host.get(host, 0) + int(w.get("execs", 0))
    return {
        "vms": vms,
        "hosts": {h.uri: h.vms for h in hosts},
        "ended": p.ended,
        "error": p.error,
        "warnings": p.warnings,
        "elapsed_s": round(p.elapsed_s, 1),
        "execs": p.execs,
        "execs_per_s": round(p.execs / p.elapsed_s, 1) if p.elapsed_s else 0.0,
        "execs_by_host": per_host,
        "rig_cpu_s": round(cpu, 1),
        "rig_cpu_pct_per_vm": round(100 * cpu / wall / vms, 1) if wall else None,
        "boots": p.boots,
    }


def transport(ctx: RunContext, image: Image, programs: int) -> dict[str, Any]:
    """Milliseconds per empty program, one at a time, through this host's session."""
    config = default_config(image.module, ctx.limits.call_s)
    with (
        ctx.open() as host,
        host.session(image, config, campaign=campaign_name("bench-fleet-rt"), window=1) as s,
    ):
        for _ in range(20):  # warm up: caches, the agent's first fork
            s.run(Program(()))
        times = []
        for _ in range(programs):
            t = time.perf_counter()
            if s.run(Program(())) is None:
                raise RigError(f"the VM on {ctx.uri} ended during the transport benchmark")
            times.append(time.perf_counter() - t)
    return {
        "programs": programs,
        "ms_per_program_median": round(1000 * statistics.median(times), 3),
        "ms_per_program_mean": round(1000 * statistics.fmean(times), 3),
    }


@click.command()
@home_option
@click.option("--duration", type=DURATION, default="60s", show_default=True, help="Per campaign.")
@click.option("--engine", default="generate", show_default=True)
@click.option("--programs", default=500, show_default=True, help="Empty programs per transport.")
@click.option(
    "--remote",
    default=None,
    help="The second host's libvirt URI [default: a second libvirtd started on this machine].",
)
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    duration: float,
    engine: str,
    programs: int,
    remote: str | None,
    uri: str,
    as_json: bool,
) -> None:
    """Programs/s with 1 and 2 VMs here and 1+1 over two hosts; stream vs local cost per program."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    say = (lambda _s: None) if as_json else click.echo
    image = rc.build_image(REPO_DRIVER)
    extra = None if remote else ExtraLibvirtd(rc.home.root / "cache" / "extra-libvirtd", rc.accel)
    results: dict[str, Any] = {"duration_s": duration, "engine": engine, "image": image.id}
    try:
        if extra is not None:
            remote = extra.start().uri
        assert remote is not None
        results["remote"] = remote
        far = replace(rc, uri=remote)
        say(f"second host {remote}")
        for key, ctx_ in (("local", rc), ("remote", far)):
            say(f"transport, {key}: {programs} empty programs one at a time")
            t0 = time.monotonic()
            results[f"transport_{key}"] = transport(ctx_, image, programs)
            results[f"transport_{key}"]["session_s"] = round(time.monotonic() - t0, 1)
            say(f"  {results[f'transport_{key}']}")
        a = results["transport_local"]["ms_per_program_median"]
        b = results["transport_remote"]["ms_per_program_median"]
        results["stream_overhead_ms_per_program"] = round(b - a, 3)
        runs = {
            "local_1vm": (Host(rc.uri, 1),),
            "local_2vm": (Host(rc.uri, 2),),
            "split_1_1": (Host(rc.uri, 1), Host(remote, 1)),
        }
        for name, hosts in runs.items():
            say(f"campaign {name}: {duration:.0f}s of {engine}")
            results[name] = campaign(rc, name, hosts, duration, engine, image)
            r = results[name]
            say(
                f"  {r['execs_per_s']} programs/s, rig CPU {r['rig_cpu_pct_per_vm']}% per VM, "
                f"by host {r['execs_by_host']} {r['error']}"
            )
        one = results["local_1vm"]["execs_per_s"]
        if one:
            for name in ("local_2vm", "split_1_1"):
                results[f"{name}_scaling"] = round(results[name]["execs_per_s"] / (2 * one), 3)
    finally:
        if extra is not None:
            extra.stop()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    click.echo(json.dumps(results, sort_keys=True))
