"""Ask a running guest what a driver created: its files (listing) and its netlink policies."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rig.deadline import Deadline
from rig.errors import RigError
from rig.guest.protocol import AgentConfig
from rig.image.build import Image
from rig.smoke import campaign_name
from rig.spec import import_guest
from rig.vmhost import VmHost

log = logging.getLogger(__name__)


@dataclass
class Probe:
    listing: str
    policies: dict[str, bytes] = field(default_factory=dict)


def probe(host: VmHost, image: Image, families: tuple[str, ...]) -> Probe:
    """Boot the image, run the listing script in its shell, dump each family's policy."""
    # nlctrl answers for any family; nothing else is allowed.
    config = AgentConfig(allow_families=("nlctrl",), call_timeout_s=host.ctx.limits.call_s)
    with host.session(image, config, campaign=campaign_name("spec-probe"), start=False) as session:
        inst = session.instance
        assert inst.watcher is not None
        # One line on the console, so the shell's echo neither spans prompts nor shows the magic.
        script = base64.b64encode(import_guest.listing_script(image.module).encode()).decode()
        command = f"echo {script} | base64 -d > /tmp/listing.sh && sh /tmp/listing.sh"
        rc, out, report = inst.watcher.shell(command, Deadline(host.ctx.limits.listing_s))
        if report is not None or rc != 0:
            raise RigError(
                f"listing the driver's files in the guest failed (status {rc}): "
                f"{inst.console_tail()}"
            )
        start = out.find(import_guest.LISTING_MAGIC)
        result = Probe(out[start:] if start >= 0 else out)
        session.start()
        for family in families:
            res = session.run(import_guest.policy_program(family))
            if res is None:
                raise RigError(f"the guest ended while dumping the policy of {family}")
            result.policies[family] = without_port_ids(b"".join(c.output for c in res.calls[1:]))
    return result


def without_port_ids(dump: bytes) -> bytes:
    """The netlink messages of a policy dump with each header's port id zeroed.

    The port id is the guest socket's, which follows the guest's pids (one
    more module loaded at boot shifts it); the policy itself does not.
    """
    out = bytearray(dump)
    at = 0
    while at + 16 <= len(out):
        length = int.from_bytes(out[at : at + 4], "little")
        if length < 16 or at + length > len(out):
            break  # not a well-formed message: leave the rest as the guest sent it
        out[at + 12 : at + 16] = bytes(4)
        at += (length + 3) & ~3
    return bytes(out)


def save(p: Probe, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "listing.txt"]
    written[0].write_text(p.listing + "\n")
    for family, data in p.policies.items():
        path = out_dir / f"policy-{family}.bin"
        path.write_bytes(data)
        written.append(path)
    return written
