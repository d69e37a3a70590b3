"""`rig fuzz`: a fuzzing campaign on a fleet of VMs, with live progress and a summary."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from rig.campaign.options import parse_abi, parse_doors, parse_engine
from rig.campaign.runner import Campaign, Progress, new_campaign, prepare, run, verdict
from rig.cli.image import campaign_driver_option, module_option
from rig.cli.main import DURATION, home_of, home_option, snapshot_option, uri_option
from rig.context import RunContext
from rig.crash.store import CampaignBucket
from rig.errors import ConfigError
from rig.fleet.hosts import Host, host_option
from rig.fleet.hosts import check as check_hosts
from rig.gen.build import DOORS
from rig.repro.background import BackgroundReproducer
from rig.smoke import campaign_name


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def render(p: Progress) -> Table:
    t = Table(title="rig fuzz", show_header=False, box=None)
    t.add_row("time", f"{_hms(p.elapsed_s)} elapsed, {_hms(p.remaining_s)} left")
    t.add_row("executions", f"{p.execs} ({p.execs_per_s:.0f}/s)")
    t.add_row("coverage", f"{p.edges} edges, corpus {p.corpus}")
    t.add_row("crashes", f"{p.crashes} in {len(p.buckets)} bucket(s), {p.boots} VM boots")
    if p.infra_errors:
        t.add_row("host", f"{p.infra_errors} infrastructure failure(s), retried")
    for warning in p.warnings:
        t.add_row("[bold yellow]warning[/bold yellow]", escape(warning))
    for w in p.workers:
        t.add_row(
            f"vm {w.get('slot')}",
            escape(f"{w.get('status', '?')} {w.get('vm', '')} {w.get('error', '')}"),
        )
    for b in p.buckets:
        t.add_row("bucket", escape(f"{b.id[:8]} x{b.count} {b.title}"))
    return t


def summary_table(p: Progress) -> Table:
    t = Table(title="buckets found")
    t.add_column("bucket")
    t.add_column("count", justify="right")
    t.add_column("first found", justify="right")
    t.add_column("title")
    for b in p.buckets:
        found = p.first_found_s.get(b.id)
        t.add_row(
            b.id[:12],
            str(b.count),
            "?" if found is None else _hms(found),  # campaign time, as the progress shows
            escape(b.title),
        )
    return t


@click.command()
@home_option
@campaign_driver_option
@module_option
@click.option(
    "--driver-bugs",
    "bugs",
    default=None,
    help="Planted bugs to enable, through the parameter bugs.toml names (`param`).",
)
@click.option(
    "--params",
    default=None,
    help='Module parameters, e.g. "debug=1 queues=4" (checked by modinfo).',
)
@click.option(
    "--image",
    "image_id",
    default=None,
    help="Fuzz an image built before (`rig image build` prints its id): its driver, module "
    "and parameters.",
)
@click.option(
    "--vms", type=click.IntRange(1, 64), default=None, help="VMs, one worker each [default: 2]."
)
@click.option(
    "--duration", type=DURATION, default=None, help="How long, e.g. 90s, 30m, 1h30m [default: 30m]."
)
@click.option(
    "--engine", default=None, help="atheris, hypothesis, generate or random [default: atheris]."
)
@click.option("--doors", default=None, help=f"Comma list of {','.join(DOORS)} [default: all].")
@click.option("--seed", type=int, default=None, help="Seed of the engines [default: 0].")
@click.option(
    "--abi",
    type=click.Choice(["64", "32", "both"]),
    default=None,
    help="Run programs as 64-bit and/or 32-bit processes (32-bit ones reach compat_ioctl) "
    "[default: both if the module has its own compat_ioctl, else 64].",
)
@click.option(
    "--spec",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Interface spec (default: corpora/specs/MODULE.yaml).",
)
@click.option("--campaign", "name", default=None, help="Campaign name (default: fuzz-DATE).")
@click.option(
    "--resume",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Resume the campaign in this directory.",
)
@click.option(
    "--repro", is_flag=True, help="Reproduce new buckets in the background on an extra VM."
)
@click.option(
    "--repro-budget",
    type=DURATION,
    default="10m",
    show_default=True,
    help="Time per bucket for --repro.",
)
@click.option(
    "--min-buckets",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Exit non-zero if the campaign ends with fewer buckets (the demo asks for 1).",
)
@uri_option
@snapshot_option
@host_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    driver: Path | None,
    module: str | None,
    bugs: str | None,
    params: str | None,
    image_id: str | None,
    vms: int | None,
    duration: float | None,
    engine: str | None,
    doors: str | None,
    seed: int | None,
    abi: str | None,
    spec: Path | None,
    name: str | None,
    resume: Path | None,
    repro: bool,
    repro_budget: float,
    min_buckets: int,
    uri: str,
    no_snapshot: bool,
    hosts: tuple[Host, ...],
) -> None:
    """Fuzz a driver on a fleet of VMs until the duration ends or Ctrl-C; then stop cleanly."""
    h = home_of(ctx, home).ensure()
    hosts = check_hosts(hosts)
    if hosts and vms is not None and vms != sum(x.vms for x in hosts):
        raise ConfigError(
            f"--vms {vms} and --host ({sum(x.vms for x in hosts)} VMs) disagree: give the VM "
            "count of each host as URI=VMS and drop --vms"
        )
    if hosts and resume is not None:
        raise ConfigError("a resumed campaign keeps its hosts: drop --host")
    duration_s = duration
    engine_name = parse_engine(engine) if engine is not None else None
    door_list = parse_doors(doors) if doors is not None else None
    rc = RunContext.create(h, uri=uri, snapshots=not no_snapshot)
    if resume is not None:
        if params is not None or image_id is not None:
            raise ConfigError(
                "a resumed campaign keeps its image and module parameters: drop --params/--image"
            )
        asked = {
            "driver": str(driver.resolve()) if driver else None,
            "module": module,
            "bugs": bugs,
            "engine": engine_name,
            "doors": door_list,
            "seed": seed,
            "abis": parse_abi(abi) if abi else None,
            "spec": str(spec.resolve()) if spec else None,
            "duration_s": duration_s,
            "vms": vms,
        }
        explicit = ctx.get_parameter_source("uri")
        override = rc if explicit is not click.core.ParameterSource.DEFAULT else None
        camp = prepare(rc, resume, None, asked, override)
    else:
        camp = new_campaign(
            rc,
            h.campaign(name or campaign_name("fuzz")),
            driver=driver,
            module=module,
            bugs=bugs or "",
            vms=vms or 2,
            duration_s=duration_s or 1800.0,
            engine=engine_name or "atheris",
            doors=door_list or DOORS,
            seed=seed or 0,
            spec=spec,
            params=params or "",
            image_id=image_id,
            abis=parse_abi(abi) if abi else None,
            hosts=hosts,
        )
    out = Console(highlight=False)
    out.print(
        f"campaign {escape(str(camp.dir.path))}: {camp.opts.engine} on {camp.opts.vms} VM(s), "
        f"image {camp.image.id}, {camp.image.module} {escape(camp.opts.params) or '(no parameters)'}"
    )
    for host in camp.opts.hosts:
        out.print(f"host {escape(host.uri)}: {host.vms} VM(s)")
    if camp.opts.abi_reason:
        out.print(f"abi: {escape(camp.opts.abi_reason)} (choose with --abi)")
    elif camp.opts.abis and camp.opts.abis != (64,):
        out.print(f"abi: {' and '.join(f'{a}-bit' for a in camp.opts.abis)} programs")
    reproducer = BackgroundReproducer(camp.ctx, repro_budget).start() if repro else None

    def on_buckets(_camp: Campaign, fresh: list[CampaignBucket]) -> None:
        for bucket in fresh:
            if reproducer is not None:
                reproducer.submit(bucket.id)

    try:
        if out.is_terminal:
            with Live(render(Progress()), console=out, refresh_per_second=2) as live:
                final = run(camp, lambda p: live.update(render(p)), on_buckets)
        else:
            last = {"t": 0.0}
            warned: list[str] = []

            def line(p: Progress) -> None:
                for w in p.warnings[len(warned) :]:
                    out.print(f"[bold yellow]warning:[/bold yellow] {escape(w)}")
                    warned.append(w)
                if time.monotonic() - last["t"] >= 10:
                    last["t"] = time.monotonic()
                    out.print(
                        f"{_hms(p.elapsed_s)} execs {p.execs} ({p.execs_per_s:.0f}/s) "
                        f"edges {p.edges} buckets {len(p.buckets)} crashes {p.crashes}"
                    )

            final = run(camp, line, on_buckets)
    finally:
        if reproducer is not None:
            reproducer.stop()
    out.print(summary_table(final))
    for w in final.warnings:
        out.print(f"[bold yellow]warning:[/bold yellow] {escape(w)}")
    skipped = sorted({e for w in final.workers for e in w.get("corpus_skipped", [])})
    for entry in skipped:
        out.print(f"[yellow]corpus entry skipped:[/yellow] {escape(entry)}")
    out.print(
        f"{final.execs} executions, {final.edges} edges, {final.crashes} crashes in "
        f"{len(final.buckets)} bucket(s); summary: {escape(str(camp.dir.path / 'summary.json'))}"
    )
    out.print(ending_sentence(final))
    verdict(final, min_buckets)


def ending_sentence(p: Progress) -> str:
    """How the campaign ended, in words, for the last line of the table."""
    if p.ended == "finished":
        extra = (
            f" ({p.infra_errors} infrastructure failures were retried)" if p.infra_errors else ""
        )
        return f"campaign finished its duration{extra}"
    if p.ended == "stopped":
        return f"campaign stopped after {_hms(p.elapsed_s)}; resume it with --resume"
    return f"[bold red]campaign failed ({p.ended}):[/bold red] {escape(p.error)}"
