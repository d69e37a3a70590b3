"""Error types, named by who is to blame, so the CLI can print one clear line for each."""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig reports to a user as one line and a non-zero exit."""

    exit_code = 1


class ConfigError(RigError):
    """The user's input (options, files, specs, programs) is wrong."""

    exit_code = 2


class InfraError(RigError):
    """The host is not ready: packages, libvirtd, QEMU, disk."""

    exit_code = 3


class LibvirtGone(InfraError):
    """libvirtd could not be reached (it died, restarts, or the host is down); worth retrying later."""


class BuildError(RigError):
    """A kernel, module or image could not be built."""

    exit_code = 4


class BootError(InfraError):
    """A VM did not reach its ready marker; carries the console tail for diagnosis."""

    def __init__(self, message: str, console_tail: str = "") -> None:
        super().__init__(message)
        self.console_tail = console_tail


class GuestProtocolError(RigError):
    """The guest agent said something that does not follow the protocol."""


class RigBug(RigError):
    """An internal invariant broke; this is our fault."""

    exit_code = 70


def disk_full(e: OSError) -> InfraError | None:
    """The one-line error for a write that found no space (ENOSPC, EDQUOT); None for others."""
    import errno

    if e.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = f" writing {e.filename}" if e.filename else ""
    return InfraError(f"no space left on device{where}: free space there, then resume")
