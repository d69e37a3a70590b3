"""`rig run PROGRAM_FILE`: run one program in a VM and print its results readably."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from rig.cli.image import driver_option, module_option, params_option
from rig.cli.main import home_of, home_option, snapshot_option, uri_option
from rig.config import runtime_dir
from rig.context import RunContext
from rig.guest.display import format_result
from rig.guest.surface import spec_config
from rig.prog import text
from rig.runner import RunOutcome, run_fresh, run_on
from rig.spec.load import load as load_spec


def _show(out: Console, program_path: Path, res: RunOutcome) -> int:
    if res.result is not None:
        program = text.load(program_path).program
        for line in format_result(program, res.result):
            out.print(escape(line))
    for note in res.notes:
        out.print(f"[dim]{escape(note)}[/dim]")
    if res.report is not None:
        out.print(f"[bold red]kernel report:[/bold red] {escape(res.report.title)}")
        out.print(escape(res.report.text))
        return 3
    if res.ending is not None:
        out.print(
            f"[bold red]VM ended:[/bold red] {escape(res.ending.ending.value)} {escape(res.ending.detail)}"
        )
        return 3
    return 0


@click.command()
@home_option
@click.argument("program_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--vm",
    "vm_name",
    default=None,
    help="Run on a VM started by `rig vm start` instead of a fresh one.",
)
@driver_option
@module_option
@params_option
@click.option(
    "--spec",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Let the program touch what this spec names (default: paths named after the module).",
)
@uri_option
@snapshot_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    program_file: Path,
    vm_name: str | None,
    driver: Path,
    module: str | None,
    params: str,
    spec: Path | None,
    uri: str,
    no_snapshot: bool,
    as_json: bool,
) -> None:
    """Boot a VM (or use a running one), run PROGRAM_FILE, print each call's result.

    Exit status 3 when the program crashed the kernel or the VM ended.
    """
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri, snapshots=not no_snapshot)
    text.load(program_file).program.validate()  # file, line and call of any error, before booting
    config = spec_config(load_spec(spec), rc.limits.call_s) if spec is not None else None
    if vm_name is not None:
        res = run_on(
            runtime_dir() / f"{vm_name}.sock", program_file, module or "boundary", rc.limits,
            config,
        )  # fmt: skip
    else:
        image = rc.build_image(driver, module, params)
        with rc.open() as host:
            res = run_fresh(host, image, program_file, config)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "result": asdict(res.result) if res.result else None,
                    "report": res.report.title if res.report else None,
                    "ending": res.ending.ending.value if res.ending else None,
                },
                default=lambda o: o.hex() if isinstance(o, bytes) else str(o),
            )
        )
        code = 3 if (res.report or res.ending) else 0
    else:
        code = _show(Console(highlight=False, soft_wrap=True), program_file, res)
    raise click.exceptions.Exit(code)
