"""A campaign's fleet over several libvirt hosts: `--host URI[=VMS]`, and which VM runs where.

Each host is a libvirt connection URI and the number of VMs it runs. VM
slots are numbered across hosts in the order given: with `--host A=2
--host B=1`, slots 0 and 1 run on A and slot 2 on B. Every libvirt call of
a slot goes through its host's connection (the slot's worker opens only
that one); nothing else about a worker changes with its host.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from rig.errors import ConfigError

MAX_VMS_PER_HOST = 256


@dataclass(frozen=True)
class Host:
    uri: str
    vms: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "vms": self.vms}


def parse_host(text: str) -> Host:
    """`URI[=VMS]`; the count defaults to 1. An '=' inside the URI's query is the URI's own."""
    uri, eq, count = text.rpartition("=")
    # `...?no_verify=1` is the URI's own parameter: a count follows a whole URI,
    # whose query (if any) ends in a key=value pair.
    query = uri.partition("?")[2]
    own = bool(query) and "=" not in query.rsplit("&", 1)[-1]
    if not eq or own or not count.strip().lstrip("-").isdigit():
        uri, count = text, ""
    uri = uri.strip()
    if "://" not in uri:
        raise ConfigError(f"--host {text!r}: expected a libvirt URI such as qemu+ssh://h/system")
    if not count:
        return Host(uri)
    vms = int(count)
    if not 1 <= vms <= MAX_VMS_PER_HOST:
        raise ConfigError(f"--host {text!r}: VMS must be 1..{MAX_VMS_PER_HOST}")
    return Host(uri, vms)


def from_table(rows: Iterable[Any], where: str) -> tuple[Host, ...]:
    """Hosts from a config file's `[[hosts]]` rows (`uri`, optional `vms`)."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("uri"), str):
            raise ConfigError(f"{where}: hosts[{i}] needs a uri string")
        vms = row.get("vms", 1)
        if not isinstance(vms, int) or isinstance(vms, bool):
            raise ConfigError(f"{where}: hosts[{i}].vms must be a whole number")
        out.append(parse_host(f"{row['uri']}={vms}"))
    return check(out)


def check(hosts: Sequence[Host]) -> tuple[Host, ...]:
    seen = set()
    for h in hosts:
        if h.uri in seen:
            raise ConfigError(f"host {h.uri} is named twice: give it once with its VM count")
        seen.add(h.uri)
    return tuple(hosts)


def slot_uris(hosts: Sequence[Host], default_uri: str, vms: int) -> list[str]:
    """The URI each VM slot runs on: the hosts in order, or all on `default_uri`."""
    if not hosts:
        return [default_uri] * vms
    return [h.uri for h in hosts for _ in range(h.vms)]


class HostType(click.ParamType):  # type: ignore[type-arg]
    """`--host URI[=VMS]` as a click option type."""

    name = "URI[=VMS]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Host:
        if isinstance(value, Host):
            return value
        try:
            return parse_host(str(value))
        except ConfigError as e:
            self.fail(str(e), param, ctx)


host_option = click.option(
    "--host",
    "hosts",
    type=HostType(),
    multiple=True,
    help="A libvirt host and its VM count, URI[=VMS] (repeatable): the campaign's VMs are "
    "spread over these instead of --vms on --uri. Remote URIs (qemu+ssh://, qemu+tcp://) "
    "get images through a storage pool and consoles over the connection.",
)
