"""`rig image build|show|prune`: guest images for a driver."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rig.cli.main import home_of, home_option
from rig.context import RunContext
from rig.fleet.snapshot import Snapshots
from rig.image import build as imgbuild

REPO_DRIVER = imgbuild.REPO / "driver"

driver_option = click.option(
    "--driver",
    type=click.Path(file_okay=False, path_type=Path),
    default=REPO_DRIVER,
    show_default="the bundled driver/",
    help="Out-of-tree kernel module source directory (with a Kbuild or Makefile).",
)
campaign_driver_option = click.option(
    "--driver",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Driver source directory (default: the bundled driver/).",
)
module_option = click.option(
    "--module", default=None, help="Module to load when the driver builds several."
)
params_option = click.option("--params", default="", help='Module parameters, e.g. "bugs=all".')
kernel_option = click.option(
    "--kernel",
    "kernel_version",
    default=None,
    help="Kernel version with installed headers (default: what linux-headers-amd64 resolves to).",
)


@click.group()
def cli() -> None:
    """Build and inspect guest images."""


@cli.command()
@home_option
@driver_option
@module_option
@params_option
@kernel_option
@click.option(
    "--include",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Static binary to install as /usr/bin/NAME in the guest (repeatable).",
)
@click.option(
    "--no-coverage",
    is_flag=True,
    help="Build the module as it is, without rigcov's coverage hooks (campaigns get 0 edges).",
)
@click.option("--force", is_flag=True, help="Rebuild even if a cached image matches.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def build(
    ctx: click.Context,
    home: Path | None,
    driver: Path,
    module: str | None,
    params: str,
    kernel_version: str | None,
    include: tuple[Path, ...],
    no_coverage: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Build (or reuse) the image for DRIVER, MODULE and PARAMS."""
    rc = RunContext.create(home_of(ctx, home))
    image = rc.build_image(
        driver, module, params, kernel_version=kernel_version, include=include,
        coverage=not no_coverage, force=force,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(image.manifest, indent=2, sort_keys=True))
    else:
        m = image.manifest
        click.echo(
            f"image {image.id}: kernel {m['kernel']['version']}, module {m['module']['name']} "
            f"{' '.join(m['module']['params'])}".rstrip()
            + ("" if m["module"].get("coverage") else " (no coverage)")
        )
        click.echo(f"  {image.dir}")


@cli.command()
@home_option
@click.option("--keep", default=3, show_default=True, help="Newest images to keep regardless.")
@click.pass_context
def prune(ctx: click.Context, home: Path | None, keep: int) -> None:
    """Delete images no crash record references (keeping the newest few), and their snapshots."""
    h = home_of(ctx, home)
    removed = imgbuild.prune(h, keep)
    # A snapshot is of one image: it goes with it (and with any image already gone).
    snapshots = Snapshots(h.snapshots).prune_images(imgbuild.present_images(h))
    click.echo(f"removed {len(removed)} image(s) and {len(snapshots)} snapshot(s)")


@cli.command()
@home_option
@click.argument("image")
@click.pass_context
def show(ctx: click.Context, home: Path | None, image: str) -> None:
    """Verify IMAGE (an id under the home, or a directory) and print its manifest."""
    h = home_of(ctx, home)
    path = Path(image) if "/" in image else h.images / image
    click.echo(json.dumps(imgbuild.verify(path).manifest, indent=2, sort_keys=True))


@cli.command()
@home_option
@kernel_option
@click.argument("sources", nargs=-1, required=True)
@click.option("--name", default=None, help="Module name (default: the first source's stem).")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="New driver directory to write.",
)
@click.pass_context
def intree(
    ctx: click.Context,
    home: Path | None,
    kernel_version: str | None,
    sources: tuple[str, ...],
    name: str | None,
    output: Path,
) -> None:
    """Make a driver directory of an in-tree module's SOURCES (e.g. drivers/input/misc/uinput.c).

    The files come from Debian's linux-source package of the image's kernel
    (cached in the home); `rig image build --driver OUTPUT` then builds the
    module with coverage, and the guest loads it instead of the stock one.
    """
    from rig.image import intree as it
    from rig.image import kernel as kmod

    h = home_of(ctx, home).ensure()
    version = kernel_version or kmod.default_version()
    out = it.fetch(version, h.root / "cache" / "linux-source", list(sources), name, output)
    click.echo(
        f"driver {out}: module {name or Path(sources[0]).stem} from {it.source_package(version)}"
    )
