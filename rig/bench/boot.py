"""Boot-to-ready time for 1 and 2 VMs, and how much of it passes before the kernel runs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import click

from rig.cli.image import driver_option
from rig.cli.main import home_of, home_option, uri_option
from rig.config import HostLimits
from rig.context import RunContext
from rig.fleet.pool import Fleet
from rig.host.daemons import capability_check
from rig.smoke import campaign_name

TARGET_S = 4.0


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


@click.command()
@home_option
@driver_option
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 50))
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context, home: Path | None, driver: Path, rounds: int, uri: str, as_json: bool
) -> None:
    """Boot 1 VM, then 2 at once, ROUNDS times each; print medians.

    Also times libvirt's capability call (the second of two, as the host
    self-check does): seconds there mean libvirt re-probes QEMU on every call.
    """
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    image = rc.build_image(driver)
    campaign = campaign_name("bench-boot")
    caps = capability_check(uri, HostLimits())
    figures: dict[str, object] = {
        "accel": rc.accel,
        "rounds": rounds,
        "target_boot_to_ready_s": TARGET_S,
        "libvirt_capabilities_s": round(caps.last_s, 4),
        "libvirt_capabilities_first_s": round(caps.seconds[0], 4),
    }
    with rc.open() as host:
        for n in (1, 2):
            ready, before, create = [], [], []
            for _ in range(rounds):
                with Fleet(host, [image] * n, campaign) as fleet:
                    for inst in fleet.boot():
                        ready.append(inst.timing.ready_s)
                        create.append(inst.timing.create_s)
                        if inst.timing.before_kernel_s is not None:
                            before.append(inst.timing.before_kernel_s)
            figures[f"boot_to_ready_{n}vm_s"] = _median(ready)
            figures[f"boot_to_ready_{n}vm_max_s"] = round(max(ready), 3)
            figures[f"before_kernel_{n}vm_s"] = _median(before)
            figures[f"create_domain_{n}vm_s"] = _median(create)
            if not as_json:
                click.echo(
                    f"{n} VM(s): ready {_median(ready):.2f}s (max {max(ready):.2f}s), "
                    f"before kernel {_median(before):.2f}s, createXML {_median(create):.2f}s"
                )
    click.echo(json.dumps(figures, sort_keys=True))
