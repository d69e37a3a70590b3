"""What every command that runs VMs shares, built once where the command starts.

A `RunContext` names the home, the libvirt connection, the accelerator
verdict, the guest limits and whether snapshots are used. The CLI builds it
from its options; a campaign saves it in campaign.json so that workers (other
processes), `--resume` and `rig repro` of its crashes rebuild the same one
instead of each asking the environment again. Nothing below the CLI builds
`Limits()`, probes the accelerator or picks a URI by itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from rig.config import DEFAULT_URI, Home, Limits
from rig.errors import ConfigError
from rig.host import accel as accelmod

if TYPE_CHECKING:
    from pathlib import Path

    from rig.fleet.backend import Backend
    from rig.image.build import Image, ImageRequest
    from rig.vmhost import VmHost


@dataclass(frozen=True)
class RunContext:
    home: Home
    uri: str = DEFAULT_URI
    accel: accelmod.Accel = "tcg"
    limits: Limits = field(default_factory=Limits)
    snapshots: bool = True

    @classmethod
    def create(
        cls,
        home: Home,
        *,
        uri: str | None = None,
        accel: str | None = None,
        snapshots: bool = True,
        limits: Limits | None = None,
    ) -> RunContext:
        """The one place the accelerator verdict is read and the limits are checked."""
        limits = limits or Limits()
        limits.check()
        verdict = accelmod.current(home.host_file, accel)
        return cls(home, uri or DEFAULT_URI, verdict.accel, limits, snapshots)

    def with_snapshots(self, on: bool) -> RunContext:
        return replace(self, snapshots=on)

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "accel": self.accel,
            "limits": asdict(self.limits),
            "snapshots": self.snapshots,
        }

    @classmethod
    def from_json(cls, home: Home, data: dict[str, Any]) -> RunContext:
        try:
            known = {f.name for f in fields(Limits)}
            limits = Limits(**{k: v for k, v in data["limits"].items() if k in known})
            limits.check()
            return cls(
                home,
                str(data["uri"]),
                accelmod.parse_accel(str(data["accel"])),
                limits,
                bool(data.get("snapshots", True)),
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"run context is damaged ({e!r})") from e

    def image_request(
        self,
        driver: Path,
        module: str | None = None,
        params: str = "",
        *,
        kernel_version: str | None = None,
        include: tuple[Path, ...] = (),
        coverage: bool = True,
    ) -> ImageRequest:
        from rig.image.build import ImageRequest

        return ImageRequest(
            driver=driver,
            module=module,
            params=params,
            kernel_version=kernel_version,
            include=include,
            coverage=coverage,
            accel=self.accel,
            limits=self.limits,
        )

    def build_image(
        self,
        driver: Path,
        module: str | None = None,
        params: str = "",
        *,
        kernel_version: str | None = None,
        include: tuple[Path, ...] = (),
        coverage: bool = True,
        force: bool = False,
    ) -> Image:
        """The image for a driver as this context boots it (cached by its inputs)."""
        from rig.image.build import build

        req = self.image_request(
            driver, module, params, kernel_version=kernel_version, include=include,
            coverage=coverage,
        )  # fmt: skip
        return build(self.home, req, force=force)

    def open(self, backend: Backend | None = None) -> VmHost:
        """The libvirt host this context names, ready to boot sessions (`backend`: tests' fakes)."""
        from rig.vmhost import VmHost

        return VmHost(self, backend)
