"""`rig crashes`: list crash buckets (a table or JSON) and show one with its report and programs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rig.cli.main import home_of, home_option
from rig.crash.store import Bucket, Crash, CrashStore
from rig.crash.title import printable
from rig.errors import ConfigError

_SHOW_BYTES = 64 * 1024  # of a report or program file; the rest stays on disk


def _safe(text: str) -> str:
    """Guest text for the terminal: no control characters (C0, DEL, C1), no rich markup."""
    return escape(
        "".join(
            ch if ch in "\n\t" or not (ch < " " or "\x7f" <= ch <= "\x9f") else "?" for ch in text
        )
    )


def _console() -> Console:
    # Piped output is for grep and logs: wide enough that titles stay on one line.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _bucket_json(b: Bucket, hosts: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": b.id,
        "title": b.title,
        "kind": b.kind,
        "type": b.type,
        "count": b.count,
        "first_seen": b.first_seen,
        "last_seen": b.last_seen,
        "repro": str(b.repro),
        "directory": str(b.directory),
    }
    if hosts is not None:
        out["hosts"] = hosts
    files = _repro_files(b)
    if files:
        out["repro_files"] = {name: str(path) for name, path in files.items()}
    if b.crashes:
        out["crashes"] = [_crash_json(c) for c in b.crashes]
    return out


def _repro_files(b: Bucket) -> dict[str, Path]:
    """What `rig repro` left in the bucket's directory."""
    names = {"prog": "repro.prog", "c": "repro.c", "md": "repro.md"}
    return {k: b.directory / n for k, n in names.items() if (b.directory / n).is_file()}


def _crash_json(c: Crash) -> dict[str, Any]:
    return {
        "id": c.id,
        "seq": c.seq,
        "campaign": c.campaign,
        "vm": c.vm,
        "host": c.host,
        "time": c.time,
        "corrupted": c.corrupted,
        "truncated": c.truncated,
        "console_log": str(c.console_log) if c.kept else None,
        "report": str(c.report_file) if c.kept else None,
        "programs": str(c.program_log) if c.kept and c.program_log else None,
        "manifest": c.manifest,
    }


def _open(ctx: click.Context, home: Path | None) -> CrashStore:
    # A subcommand's --home wins over the group's, which wins over `rig --home`.
    if home is None and ctx.parent is not None and ctx.parent.command is cli:
        home = ctx.parent.params.get("home")
    return CrashStore.open(home_of(ctx, home).root)


def _list(ctx: click.Context, home: Path | None, as_json: bool) -> None:
    with _open(ctx, home) as store:
        buckets = store.buckets()
        hosts = store.hosts()
    if as_json:
        click.echo(json.dumps([_bucket_json(b, hosts.get(b.id, [])) for b in buckets]))
        return
    out = _console()
    if not buckets:
        out.print("no crashes recorded")
        return
    table = Table()
    for name in ("id", "count", "last seen", "repro", "kind"):
        table.add_column(name, no_wrap=True)
    # Only a store fed by campaigns over several libvirt hosts needs the column.
    many = len({h for hs in hosts.values() for h in hs}) > 1
    if many:
        table.add_column("hosts")
    table.add_column("title", ratio=1)
    for b in buckets:
        cells = [b.id, str(b.count), _when(b.last_seen), str(b.repro), b.kind]
        if many:
            cells.append(_safe(", ".join(h or "(unnamed)" for h in hosts.get(b.id, []))))
        table.add_row(*cells, _safe(printable(b.title)))
    out.print(table)


@click.group(invoke_without_command=True)
@home_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array of buckets.")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, as_json: bool) -> None:
    """List and show crash buckets (without a subcommand: list them)."""
    if ctx.invoked_subcommand is None:
        _list(ctx, home, as_json)


@cli.command("list")
@home_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array of buckets.")
@click.pass_context
def list_cmd(ctx: click.Context, home: Path | None, as_json: bool) -> None:
    """One line per bucket: id, count, last seen, reproduction status, kind, title."""
    _list(ctx, home, as_json)


@cli.command()
@home_option
@click.option("--json", "as_json", is_flag=True, help="The bucket and its crashes as JSON.")
@click.argument("bucket_id")
@click.pass_context
def show(ctx: click.Context, home: Path | None, as_json: bool, bucket_id: str) -> None:
    """One bucket (by id or unique id prefix): its crashes, newest report and programs."""
    with _open(ctx, home) as store:
        b = store.bucket(bucket_id)
        if b is None:
            raise ConfigError(f"no crash bucket {bucket_id!r} in {store.db_path}")
    if as_json:
        click.echo(json.dumps(_bucket_json(b)))
        return
    out = _console()
    out.print(f"[bold]{_safe(printable(b.title))}[/bold]")
    out.print(f"bucket {b.id}  kind {b.kind}  type {b.type or 'UNKNOWN'}  count {b.count}")
    out.print(f"first seen {_when(b.first_seen)}  last seen {_when(b.last_seen)}  repro {b.repro}")
    out.print(f"directory {_safe(str(b.directory))}")
    files = _repro_files(b)
    if files:
        out.print("reproducer " + "  ".join(_safe(p.name) for p in files.values()))
    for c in b.crashes:
        flags = " corrupted" if c.corrupted else ""
        flags += " truncated" if c.truncated else ""
        where = _safe(str(c.console_log)) if c.kept else "(log rotated out)"
        on = f" on {_safe(c.host)}" if c.host else ""
        out.print(
            f"  #{c.seq} {_when(c.time)} {_safe(c.campaign)}/{_safe(c.vm)}{on}{flags} {where}"
        )
    newest = next((c for c in b.crashes if c.kept), None)
    if newest is None:
        return
    for label, path in (("report", newest.report_file), ("programs", newest.program_log)):
        if path is None or not path.exists():
            continue
        data = path.read_bytes()[:_SHOW_BYTES].decode("utf-8", "replace")
        out.rule(f"{label} (crash #{newest.seq})")
        out.print(_safe(data), soft_wrap=True)
