"""Programs/s end to end through the agent, beside the agent's own in-guest rate for the same mix."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import click

from rig.cli.image import driver_option
from rig.cli.main import home_of, home_option, uri_option
from rig.context import RunContext
from rig.deadline import Deadline
from rig.guest.surface import default_config
from rig.prog.program import Buffer, Close, FileRead, Ioctl, NlSend, NlSocket, Open, Program
from rig.smoke import campaign_name


def mix(module: str) -> list[Program]:
    """A fixed mix touching three doors; any driver named `module` with the usual homes."""
    get_status = struct.pack("<IHHIIBBH", 20, 0, 0x5, 1, 0, 1, 1, 0)
    return [
        Program((Open(f"/dev/{module}"), Ioctl(0, 0x8038B701, Buffer.of(size=56)), Close(0))),
        Program((FileRead(f"/proc/{module}/status", 4096),)),
        Program((NlSocket(), NlSend(0, module, get_status), Close(0))),
    ]


@click.command()
@home_option
@driver_option
@click.option("--seconds", default=20.0, show_default=True, help="Time per measurement.")
@click.option("--window", default=8, show_default=True, help="Programs in flight end to end.")
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    driver: Path,
    seconds: float,
    window: int,
    uri: str,
    as_json: bool,
) -> None:
    """Run a fixed mix for SECONDS end to end, then the same mix inside the guest."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    accel = rc.accel
    image = rc.build_image(driver)
    campaign = campaign_name("bench-exec")
    programs = mix(image.module)
    config = default_config(image.module, rc.limits.call_s)
    with rc.open() as host, host.session(image, config, campaign=campaign, window=window) as s:
        end = Deadline(seconds)

        def stream() -> Iterator[Program]:
            i = 0
            while not end.expired():
                yield programs[i % len(programs)]
                i += 1

        started = time.monotonic()
        done = sum(1 for _ in s.run_many(stream()))
        e2e = done / (time.monotonic() - started)
        assert s.channel is not None
        per = [s.channel.bench(p, 1_000_000, seconds / len(programs)) for p in programs]
        # The mix runs each program equally often, so its rate is the harmonic mean.
        guest = len(per) / sum(1 / max(b.rate, 1e-9) for b in per)
    figures = {
        "accel": accel,
        "window": window,
        "end_to_end_programs_per_s": round(e2e, 1),
        "in_guest_programs_per_s": round(guest, 1),
        "ratio_end_to_end_to_in_guest": round(e2e / guest, 3),
        "target_ratio": 0.5,
        "programs_end_to_end": done,
    }
    if not as_json:
        click.echo(
            f"end to end {e2e:.0f} programs/s, in guest {guest:.0f} programs/s ({e2e / guest:.2f})"
        )
    click.echo(json.dumps(figures, sort_keys=True))
