"""`rig nightly CONFIG`: one nightly run of a configuration; `--init` writes an example one."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rig.cli.main import home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import ConfigError
from rig.fleet.hosts import Host, host_option
from rig.nightly import config as nconfig
from rig.nightly.run import NightlyResult, run_nightly


def _table(r: NightlyResult) -> Table:
    t = Table(title=f"run {r.run.id}: verdicts")
    for col in ("bucket", "verdict", "seen", "repro", "title"):
        t.add_column(col)
    for v in r.verdicts:
        style = "bold red" if v.verdict in r.failed_on else ""
        t.add_row(
            v.bucket_id[:12],
            f"[{style}]{v.verdict}[/{style}]" if style else v.verdict,
            str(v.seen),
            f"{v.repro_ok}/{v.repro_tries}",
            escape(r.titles.get(v.bucket_id, "")),
        )
    return t


@click.command()
@home_option
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--init", "init", is_flag=True, help="Write a commented example CONFIG_FILE.")
@click.option(
    "--fail-on",
    default=None,
    help="Verdicts that fail the run, e.g. new,regressed; or any, or never "
    "[default: the configuration's output.fail_on].",
)
@uri_option
@host_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    config_file: Path | None,
    init: bool,
    fail_on: str | None,
    uri: str,
    hosts: tuple[Host, ...],
) -> None:
    """Build the configured driver revision, fuzz it, reproduce new buckets, and give each
    bucket a verdict against the configuration's earlier runs: new, still, fixed (its
    reproducer no longer crashes this image), regressed or flaky. Writes summary.json,
    junit.xml and report.html; exits 1 when a verdict in fail_on occurs or nothing ran."""
    path = config_file or Path("nightly.toml")
    if init:
        if path.exists():
            raise ConfigError(f"{path} exists; --init never overwrites a configuration")
        path.write_text(nconfig.EXAMPLE)
        click.echo(f"wrote {path}; edit [driver] dir and run `rig nightly {path}`")
        return
    if config_file is None:
        raise ConfigError("name the configuration: rig nightly CONFIG (or --init to write one)")
    cfg = nconfig.load(path)
    if fail_on is not None:
        cfg = nconfig.with_fail_on(cfg, fail_on)
    cfg = nconfig.with_hosts(cfg, hosts)
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    out = Console(highlight=False)
    r = run_nightly(rc, cfg, say=lambda s: out.print(escape(s)))
    out.print(_table(r))
    out.print(
        f"{r.progress.execs} executions, {r.progress.edges} edges; "
        f"outputs in {escape(str(r.out_dir))}"
        + (f", report {escape(str(r.report))}" if r.report else "")
    )
    if not r.progress.execs:
        out.print("[bold red]the campaign ran no program: no verdict means anything[/bold red]")
    elif r.failed_on:
        out.print(f"[bold red]failing on: {', '.join(r.failed_on)}[/bold red]")
    ctx.exit(r.exit)
