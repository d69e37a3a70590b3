"""`rig spec import` and `rig spec check`: write a spec from a driver's own declarations, validate one."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from rig.cli.main import home_of, home_option, uri_option
from rig.errors import ConfigError, InfraError
from rig.image.module import find_built, link_aliases
from rig.spec import import_guest, import_header, import_module, import_ynl
from rig.spec.compose import compose, merge_families
from rig.spec.load import dump, load, spec_hash
from rig.spec.types import LinkKind, NlFamily, Spec

_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def cli() -> None:
    """Import and check interface specs."""


def _with_abi32(
    part: Spec, header: Path, name: str, devices: tuple[str, ...], includes: tuple[Path, ...]
) -> Spec:
    """`part` with the layouts 32-bit callers see, where they differ (compat_ioctl paths)."""
    try:
        part32 = import_header.header_spec(header, name, devices, includes, abi=32)
        part32, _ = import_header.with_gcc_layout(part32, header, includes, abi=32)
    except (import_header.HeaderError, InfraError) as e:
        click.echo(f"{header}: no 32-bit layouts (gcc -m32: {e}); 32-bit programs use 64-bit ones")
        return part
    part = import_header.with_abi32(part, part32)
    n = sum(1 for s in part.structs if s.abi32) + sum(1 for i in part.ioctls if i.abi32)
    click.echo(f"{header}: {n} structs and ioctls differ for 32-bit callers")
    return part


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


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
    parts: list[Spec] = []
    sources: list[str] = []
    if module is not None:  # first: a YNL spec or a live policy dump names what it says
        fams = tuple(import_module.genl_families(module))
        if fams:
            parts.append(Spec(name, families=fams))
            sources.append(_rel(module))
            said = [f"{f.name} ({len(f.commands)} commands)" for f in fams]
            click.echo(f"{module}: generic netlink families {', '.join(said)}")
    for h in headers:
        part = import_header.header_spec(h, name, devices, includes)
        part, moved = import_header.with_gcc_layout(part, h, includes)
        how = f"gcc's layout taken for {len(moved)} numbers (attributes)" if moved else "gcc agrees"
        click.echo(f"{h}: {len(part.ioctls)} ioctls, {len(part.structs)} structs ({how})")
        for m in moved[:10]:
            click.echo(f"  {m}")
        part = _with_abi32(part, h, name, devices, includes)
        if module is not None:
            bad, missing = import_header.check_with_dwarf(part, module)
            if bad:
                raise ConfigError(f"{module}: DWARF disagrees: " + "; ".join(map(str, bad)))
            seen = len(part.structs) - len(missing)
            click.echo(f"{module}: DWARF agrees on {seen} structs ({len(missing)} not in it)")
        parts.append(part)
        sources.append(_rel(h))
    if listing is not None:
        entries = import_guest.parse_listing(listing.read_text(errors="replace"), str(listing))
        excl = import_guest.DEFAULT_EXCLUDES + excludes
        devs, files = import_guest.files_from_listing(entries, excl)
        parts.append(Spec(name, devs, files=files))
        sources.append(_rel(listing))
        click.echo(f"{listing}: {len(devs)} devices, {len(files)} files")
    families = _families(ynls, policies)
    if families:
        parts.append(Spec(name, families=tuple(families)))
        sources += [_rel(p) for p in (*ynls, *policies)]
    if module is not None:
        links = _links(module)
        if links:
            parts.append(Spec(name, links=links))
            sources += [] if _rel(module) in sources else [_rel(module)]
            said = [f"{k.kind} ({sum(len(s.attrs) for s in k.attr_sets)} attrs)" for k in links]
            click.echo(f"{module}: rtnetlink link kinds {', '.join(said)}")
    if overlay is not None:
        parts.append(load(overlay))
        sources.append(_rel(overlay))
    spec = compose(name, parts, sources)
    if not spec.devices and spec.ioctls:
        raise ConfigError("the header has ioctls but no device: give --device or --listing")
    dump(output, spec, _header_comment(ctx, output))
    load(output)  # what was written must read back
    click.echo(f"wrote {output} (spec {spec_hash(spec)[:16]})")


def _links(ko: Path) -> tuple[LinkKind, ...]:
    """Link kinds with their policies (rtnl_link_ops), and kinds only an alias names."""
    found = {k.kind: k for k in import_module.link_kinds(ko)}
    for kind in link_aliases(ko):
        found.setdefault(kind, LinkKind(kind))
    return tuple(found.values())


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
            argv += [flag, _rel(v) if isinstance(v, Path) else str(v)]
    for key, flag in (
        ("listing", "--listing"), ("module_arg", "--module"), ("overlay", "--overlay"),
    ):  # fmt: skip
        v = params[key]
        if v is not None:
            argv += [flag, _rel(Path(v)) if isinstance(v, Path) or "/" in v else v]
    argv += ["-o", _rel(output)]
    return (
        "Generated; do not edit. Regenerate with:\n"
        f"  {shlex.join(argv)}\n"
        "Specs describe interfaces only (see rig/spec/load.py for the format)."
    )


def _families(ynls: tuple[Path, ...], policies: tuple[Path, ...]) -> list[NlFamily]:
    from_ynl = {f.name: f for f in (import_ynl.ynl_family(p) for p in ynls)}
    out: dict[str, NlFamily] = dict(from_ynl)
    for p in policies:
        kernel = import_guest.family_from_replies(p.read_bytes())
        merged = merge_families(from_ynl.get(kernel.name), kernel)
        if merged is not None:
            out[kernel.name] = merged
    return list(out.values())


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
