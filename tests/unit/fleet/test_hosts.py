"""A campaign over several libvirt hosts: --host parsing, slots per host, options, lost hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.campaign.options import CampaignOptions
from rig.campaign.runner import Progress, lost_hosts
from rig.errors import ConfigError, RigBug
from rig.fleet.hosts import Host, check, parse_host, slot_uris
from rig.fleet.libvirt_backend import is_remote
from rig.nightly import config as nconfig

TCP = "qemu+tcp://127.0.0.1:16599/system"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("qemu:///system", Host("qemu:///system", 1)),
        (f"{TCP}=2", Host(TCP, 2)),
        ("qemu+ssh://u@h/system?keyfile=/k=3", Host("qemu+ssh://u@h/system?keyfile=/k", 3)),
        ("qemu+ssh://u@h/system?keyfile=/k", Host("qemu+ssh://u@h/system?keyfile=/k", 1)),
        ("qemu+ssh://h/system?no_verify=1", Host("qemu+ssh://h/system?no_verify=1", 1)),
        ("qemu+ssh://h/system?no_verify=1=2", Host("qemu+ssh://h/system?no_verify=1", 2)),
    ],
)
def test_host_is_a_uri_and_an_optional_vm_count(text: str, want: Host) -> None:
    assert parse_host(text) == want


@pytest.mark.parametrize("text", ["fuzz1=2", "qemu:///system=0", "qemu:///system=999", ""])
def test_bad_hosts_are_named(text: str) -> None:
    with pytest.raises(ConfigError, match="--host"):
        parse_host(text)


def test_slots_run_on_the_hosts_in_order() -> None:
    hosts = (Host("qemu:///system", 2), Host(TCP, 1))
    assert slot_uris(hosts, "qemu:///other", 3) == ["qemu:///system", "qemu:///system", TCP]
    assert slot_uris((), "qemu:///system", 2) == ["qemu:///system"] * 2
    with pytest.raises(ConfigError, match="named twice"):
        check([Host(TCP, 1), Host(TCP, 2)])


def test_remote_uris_are_those_with_a_host_part() -> None:
    assert not is_remote("qemu:///system") and not is_remote("test:///default")
    assert is_remote(TCP) and is_remote("qemu+ssh://root@fuzz1/system")


def test_campaign_options_keep_their_hosts_and_count_their_vms() -> None:
    base = dict(driver="d", module=None, bugs="", duration_s=1.0, engine="generate")
    opts = CampaignOptions(
        **base, vms=3, doors=("ioctl",), seed=0, spec="s", hosts=(Host("a://", 2), Host(TCP, 1))
    )
    assert CampaignOptions.from_json(opts.to_json()) == opts
    old = {k: v for k, v in opts.to_json().items() if k != "hosts"}  # written before hosts
    assert CampaignOptions.from_json(old).hosts == ()
    with pytest.raises(RigBug):
        CampaignOptions(**base, vms=2, doors=("ioctl",), seed=0, spec="s", hosts=(Host(TCP, 3),))


def test_a_lost_host_is_said_once_while_others_run() -> None:
    p = Progress()
    p.workers = [
        {"slot": 0, "status": "running", "host": "qemu:///system"},
        {"slot": 1, "status": "infra-retry", "host": TCP, "last_infra": "refused"},
    ]
    said = lost_hosts(p, [])
    assert said == [f"vm 1 cannot reach its host {TCP}: refused; retrying, the other VMs go on"]
    assert lost_hosts(p, said) == []
    p.workers[1] = {
        "slot": 1,
        "status": "failed",
        "error_kind": "infra",
        "host": TCP,
        "error": "gone",
    }
    said += lost_hosts(p, said)
    assert said[1:] == [f"vm 1 lost its host {TCP}: gone; the campaign goes on with 1 VM(s)"]
    assert lost_hosts(p, said) == []
    p.workers[0]["status"] = "failed"  # all gone: the campaign ends, said by workers_ended
    assert lost_hosts(p, []) == []


def test_nightly_hosts_table_and_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "n.toml"
    cfg.write_text(
        nconfig.EXAMPLE
        + f'\n[[hosts]]\nuri = "qemu:///system"\nvms = 1\n\n[[hosts]]\nuri = "{TCP}"\nvms = 2\n'
    )
    c = nconfig.load(cfg)
    assert c.campaign.hosts == (Host("qemu:///system", 1), Host(TCP, 2))
    assert c.campaign.vms == 3
    c2 = nconfig.with_hosts(c, (Host(TCP, 1),))
    assert c2.campaign.hosts == (Host(TCP, 1),) and c2.campaign.vms == 1
    cfg.write_text(nconfig.EXAMPLE + "\n[[hosts]]\nvms = 2\n")
    with pytest.raises(ConfigError, match="needs a uri"):
        nconfig.load(cfg)


def test_host_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rig.cli.fuzz import cli

    home = ["--home", str(tmp_path / "home")]
    res = CliRunner().invoke(cli, [*home, "--host", "fuzz1=2"])
    assert res.exit_code == 2 and "expected a libvirt URI" in res.output
    res = CliRunner().invoke(cli, [*home, "--host", "qemu:///system=2", "--vms", "3"])
    assert isinstance(res.exception, ConfigError) and "disagree" in str(res.exception)
    twice = ["--host", TCP, "--host", f"{TCP}=2"]
    res = CliRunner().invoke(cli, [*home, *twice])
    assert isinstance(res.exception, ConfigError) and "named twice" in str(res.exception)
