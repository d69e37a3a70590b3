"""`rig spec import` and `rig spec check`: write a spec from a driver's own declarations, validate one."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from rig.cli.main import home_of, home_option, uri_option
from rig.errors import ConfigError
from rig.image.module import find_built
from rig.spec import import_header
from rig.spec.assemble import Sources, assemble, rel
from rig.spec.load import dump, load, spec_hash

_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def cli() -> None:
    """Import and check interface specs."""


@cli.command("import")
@home_option
@click.option("--name", required=True, help="Driver (module) name; names the spec.")
@click.option(
    "--header", "headers", type=_PATH, multiple=True, help="UAPI header (ioctls, structs)."
)
@click.option(
    "--include",
    "includes",
    type=click.Path(file_okay=False, path_type=Path),
    multiple=True,
    help="Extra include directory for the header.",
)
@click.option(
    "--device", "devices", multiple=True, help="Device node the header's ioctls apply to."
)
@click.option(
    "--ynl", "ynls", type=_PATH, multiple=True, help="YNL spec of a generic netlink family."
)
@click.option(
    "--listing", type=_PATH, help="Guest file listing (rig.spec.import_guest.listing_script)."
)
@click.option(
    "--exclude", "excludes", multiple=True, help="Glob of listed paths to leave out (repeatable)."
)
@click.option(
    "--policy",
    "policies",
    type=_PATH,
    multiple=True,
    help="Recorded nlctrl replies (policy dump) of a family.",
)
@click.option(
    "--module",
    "module_arg",
    help="Module name (the newest build in the home) or .ko path: check struct layouts "
    "against its DWARF, and take the rtnetlink link kinds it registers (its rtnl-link aliases).",
)
@click.option(
    "--overlay", type=_PATH, help="A spec whose entries replace or add to the imported ones."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def import_(
    ctx: click.Context,
    home: Path | None,
    name: str,
    headers: tuple[Path, ...],
    includes: tuple[Path, ...],
    devices: tuple[str, ...],
    ynls: tuple[Path, ...],
    listing: Path | None,
    excludes: tuple[str, ...],
    policies: tuple[Path, ...],
    module_arg: str | None,
    overlay: Path | None,
    output: Path,
) -> None:
    """Write a spec from a header, YNL specs and what a guest reported."""
    rig_home = home_of(ctx, home)
    module = _module(module_arg, rig_home.root / "cache" / "build")
    sources = Sources(
        name, headers, includes, devices, ynls, listing, excludes, policies, module, overlay
    )
    spec = assemble(sources, click.echo)
    dump(output, spec, _header_comment(ctx, output))
    load(output)  # what was written must read back
    click.echo(f"wrote {output} (spec {spec_hash(spec)[:16]})")


def _module(arg: str | None, build_root: Path) -> Path | None:
    """--module as a .ko path, or a module name looked up among the home's builds."""
    if arg is None:
        return None
    if arg.endswith(".ko") or "/" in arg:
        path = Path(arg)
        if not path.is_file():
            raise ConfigError(f"--module {arg}: no such file")
        return path
    ko = find_built(build_root, arg)
    click.echo(f"module {arg}: {ko}")
    return ko


def _header_comment(ctx: click.Context, output: Path) -> str:
    params = ctx.params
    argv = ["rig", "spec", "import", "--name", params["name"]]
    for key, flag in (
        ("headers", "--header"),
        ("includes", "--include"),
        ("devices", "--device"),
        ("ynls", "--ynl"),
        ("policies", "--policy"),
        ("excludes", "--exclude"),
    ):
        for v in params[key]:
            argv += [flag, rel(v) if isinstance(v, Path) else str(v)]
    for key, flag in (
        ("listing", "--listing"), ("module_arg", "--module"), ("overlay", "--overlay"),
    ):  # fmt: skip
        v = params[key]
        if v is not None:
            argv += [flag, rel(Path(v)) if isinstance(v, Path) or "/" in v else v]
    argv += ["-o", rel(output)]
    return (
        "Generated; do not edit. Regenerate with:\n"
        f"  {shlex.join(argv)}\n"
        "Specs describe interfaces only (see rig/spec/load.py for the format)."
    )


@cli.command()
@home_option
@click.argument("spec_file", type=_PATH)
@click.option("--header", type=_PATH, help="Also re-check struct layouts and codes with gcc.")
@click.option("--module", type=_PATH, help="Also re-check struct layouts against the .ko's DWARF.")
@click.pass_context
def check(
    ctx: click.Context,
    home: Path | None,
    spec_file: Path,
    header: Path | None,
    module: Path | None,
) -> None:
    """Validate SPEC_FILE; print its hash and what it describes."""
    home_of(ctx, home)
    spec = load(spec_file)
    if header is not None:
        bad = import_header.check_with_gcc(spec, header)
        if bad:
            raise ConfigError(f"{spec_file}: gcc disagrees: " + "; ".join(map(str, bad)))
    if module is not None:
        bad, _ = import_header.check_with_dwarf(spec, module)
        if bad:
            raise ConfigError(f"{spec_file}: DWARF disagrees: " + "; ".join(map(str, bad)))
    nattrs = sum(len(s.attrs) for f in spec.families for s in f.attr_sets)
    click.echo(
        f"{spec_file}: ok: {len(spec.devices)} devices, {len(spec.ioctls)} ioctls, "
        f"{len(spec.structs)} structs, {len(spec.families)} families ({nattrs} attributes), "
        f"{len(spec.files)} files"
    )
    click.echo(f"spec {spec_hash(spec)}")


@cli.command()
@home_option
@click.option("--driver", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--module", default=None, help="Module to load when the driver builds several.")
@click.option(
    "--family", "families", multiple=True, help="Generic netlink family to dump (repeatable)."
)
@click.option(
    "-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True
)
@uri_option
@click.pass_context
def probe(
    ctx: click.Context,
    home: Path | None,
    driver: Path,
    module: str | None,
    families: tuple[str, ...],
    out_dir: Path,
    uri: str,
) -> None:
    """Boot DRIVER and record its file listing and netlink policies for `rig spec import`."""
    from rig.context import RunContext
    from rig.spec import probe as probemod

    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    image = rc.build_image(driver, module)
    with rc.open() as host:
        result = probemod.probe(host, image, families)
    for path in probemod.save(result, out_dir):
        click.echo(f"wrote {path}")
