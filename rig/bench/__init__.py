"""Benchmarks behind `rig bench NAME --json`: each module exposes a click command `cli`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rig.campaign.runner import Campaign, Progress
    from rig.context import RunContext
    from rig.image.build import Image


def clean_campaign(
    ctx: RunContext,
    label: str,
    driver: Path,
    spec: Path,
    image: Image,
    *,
    vms: int,
    seconds: float,
    engine: str,
    **options: Any,
) -> tuple[Campaign, Progress]:
    """One campaign on a driver with no planted bugs on, seed 0, every door, run to its end.

    `options` are further CampaignOptions fields (hosts, coverage_file).
    """
    from rig.campaign.options import CampaignOptions
    from rig.campaign.runner import prepare, run
    from rig.gen.build import DOORS
    from rig.smoke import campaign_name

    opts = CampaignOptions(
        driver=str(driver),
        module=None,
        bugs="",
        vms=vms,
        duration_s=seconds,
        engine=engine,
        doors=DOORS,
        seed=0,
        spec=str(spec),
        **options,
    )
    camp = prepare(ctx, ctx.home.campaign(campaign_name(label)), opts, {}, image=image)
    return camp, run(camp, lambda _p: None)
