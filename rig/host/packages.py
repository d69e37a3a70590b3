"""The Debian packages the rig needs on the host, and installing the missing ones."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

from rig.errors import InfraError

log = logging.getLogger(__name__)

DEBIAN_PACKAGES: tuple[str, ...] = (
    "qemu-system-x86",
    "libvirt-daemon-system",
    "libvirt-daemon-driver-qemu",
    "libvirt-clients",
    "libvirt-dev",
    "pkg-config",
    "busybox-static",
    "cpio",
    "kmod",
    "gcc",
    "gcc-multilib",  # gcc -m32: the 32-bit guest agent, and reproducers of abi-32 programs
    "make",
    "libc6-dev",
    "linux-headers-amd64",
    "tini",  # reaps libvirtd's QEMU processes at once (see rig.host.daemons)
)

# What the test suite needs beyond the rig itself (`rig host setup --with-test`, which
# `make test` runs): Debian's chromium, which the browser tests drive through
# playwright, so that no test downloads a browser of its own.
TEST_PACKAGES: tuple[str, ...] = ("chromium",)


def installed(packages: tuple[str, ...] | list[str]) -> set[str]:
    if not shutil.which("dpkg-query"):
        raise InfraError("dpkg-query not found: the rig's host set-up supports Debian-like hosts")
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def missing(packages: tuple[str, ...] = DEBIAN_PACKAGES) -> list[str]:
    have = installed(packages)
    return [p for p in packages if p not in have]


def _privileged(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo"):
        return ["sudo", *argv]
    raise InfraError(f"need root to run {' '.join(argv)}: run `rig host setup` as root")


def install(packages: list[str]) -> None:
    if not packages:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log.info("installing %s", " ".join(packages))
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        proc = subprocess.run(_privileged(argv), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise InfraError(f"{' '.join(argv[:2])} failed: {' | '.join(tail)}")
