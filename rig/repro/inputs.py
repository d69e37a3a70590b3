"""What `rig repro CRASH` starts from: a bucket, a crash directory or a program file, checked.

Whatever the form, the result names the title to reproduce (if known), the
programs that ran before the crash with the one the console was running,
and the image to boot: the one recorded with the crash, verified against
its manifest and against the crash's own copy of that manifest. Anything
missing, corrupt or made for another driver is a ConfigError naming it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config import Home
from rig.console.watcher import PROGRAM_MARKER
from rig.crash.parse import parse_first
from rig.crash.store import Bucket, Crash, CrashStore
from rig.errors import ConfigError
from rig.guest.proglog import LoggedProgram
from rig.image.build import Image, verify
from rig.prog import text

log = logging.getLogger(__name__)

_RECORD = re.compile(r"^=== program (\d+) ===$", re.MULTILINE)
MANIFEST_FILE = "manifest.json"
# Fields of the image manifest that decide what the guest runs.
_SAME = (
    ("kernel", "version"),
    ("module", "name"),
    ("module", "params"),
    ("module", "source_sha256"),
    ("cmdline",),
)


@dataclass
class CrashInput:
    what: str  # the argument, for messages
    title: str | None  # None: whatever crash the programs cause
    bucket_id: str | None  # set when the crash is in the home's store
    out_dir: Path  # where repro.prog, repro.c and repro.md go
    entries: list[LoggedProgram]
    last_seq: int | None  # the program the console was running
    manifest: dict[str, Any]  # the crash's copy of the image manifest
    image: Image
    source: str  # where the programs came from
    campaign: str | None = None  # the campaign whose crash this is, when the store says

    @property
    def header(self) -> text.Header:
        return text.Header(driver_hash=_get(self.image.manifest, ("module", "source_sha256")))


def _get(manifest: dict[str, Any], path: tuple[str, ...]) -> Any:
    v: Any = manifest
    for k in path:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def read_programs(path: Path) -> list[LoggedProgram]:
    """The programs of a program log (or of one program's text form), strictly: no skipping."""
    try:
        data = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read programs: {e}") from None
    marks = list(_RECORD.finditer(data))
    if not marks:
        if not data.strip():
            raise ConfigError(f"{path} is empty: no program to replay")
        return [LoggedProgram(0, text.loads(data, str(path)))]
    if data[: marks[0].start()].strip():
        raise ConfigError(f"{path}: text before the first '=== program N ===' record")
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(data)
        body = data[m.end() + 1 : end]
        out.append(
            LoggedProgram(int(m.group(1)), text.loads(body, f"{path} (program {m.group(1)})"))
        )
    return out


def last_marker(console: bytes) -> int | None:
    """The program whose marker came last before the first report of a console log."""
    log_text = console.decode("utf-8", "replace")
    report = parse_first(log_text)
    cut = report.start if report is not None else len(log_text)
    last = None
    for m in PROGRAM_MARKER.finditer(log_text, 0, cut):
        last = int(m.group(1))
    return last


def find_image(home: Home, manifest: dict[str, Any], override: str | None, what: str) -> Image:
    """The crash's image, or the one given; either must run what the crash ran."""
    if override is not None:
        path = Path(override)
        image = verify(path if path.is_dir() else home.images / override)
    else:
        image_id = manifest.get("image_id")
        if not image_id:
            raise ConfigError(f"{what}: the crash record names no image (no image manifest)")
        image_dir = home.images / str(image_id)
        if not (image_dir / "manifest.json").exists():
            params = " ".join(_get(manifest, ("module", "params")) or [])
            raise ConfigError(
                f"{what}: image {image_id} (kernel {_get(manifest, ('kernel', 'version'))},"
                f" {_get(manifest, ('module', 'name'))} {params or 'without parameters'})"
                f" no longer exists in {home.images}; rebuild it with `rig image build"
                f" --params '{params}'` and pass --image ID"
            )
        image = verify(image_dir)
    if manifest:
        for key in _SAME:
            want, have = _get(manifest, key), _get(image.manifest, key)
            if want is not None and want != have:
                raise ConfigError(
                    f"{what}: image {image.id} differs from the crash's: {'.'.join(key)}"
                    f" is {have!r}, the crash ran {want!r}"
                )
    return image


def _check_programs(entries: list[LoggedProgram], image: Image, source: str) -> None:
    driver = _get(image.manifest, ("module", "source_sha256"))
    for e in entries:
        try:
            e.file.check_target(driver, None)
        except ConfigError as err:
            raise ConfigError(f"{source} (program {e.seq}): {err}") from None


def _pick_crash(bucket: Bucket, store: CrashStore, prog_file: Path | None) -> Crash:
    kept = [c for c in bucket.crashes if c.kept]
    if prog_file is not None:
        for c in kept:
            if c.program_log is not None and c.program_log.resolve() == prog_file.resolve():
                return c
        raise ConfigError(f"{prog_file} belongs to no kept crash of bucket {bucket.id}")
    with_programs = [c for c in kept if c.program_log is not None]
    if not with_programs:
        raise ConfigError(
            f"bucket {bucket.id} ({bucket.title}): no crash with the programs that preceded it;"
            " nothing to replay"
        )
    return with_programs[0]  # newest first


def _from_store(
    home: Home, store: CrashStore, bucket: Bucket, prog_file: Path | None, image: str | None
) -> CrashInput:
    crash = _pick_crash(bucket, store, prog_file)
    assert crash.program_log is not None
    rel = f"crashes/{bucket.id}/{crash.program_log.name}"
    if not crash.console_log.exists():
        raise ConfigError(f"{crash.console_log} is missing (console log of crash #{crash.seq})")
    entries = read_programs(crash.program_log)
    img = find_image(home, crash.manifest, image, f"bucket {bucket.id}")
    _check_programs(entries, img, rel)
    return CrashInput(
        what=bucket.id,
        title=bucket.title,
        bucket_id=bucket.id,
        out_dir=bucket.directory,
        entries=entries,
        last_seq=last_marker(crash.console_log.read_bytes()),
        manifest=crash.manifest,
        campaign=crash.campaign,
        image=img,
        source=rel,
    )


def _store_of(directory: Path) -> Path | None:
    """The home holding a bucket directory, if it is one (crashes/<id>/ beside crashes.db)."""
    home = directory.resolve().parent.parent
    if directory.resolve().parent.name == "crashes" and (home / "crashes.db").exists():
        return home
    return None


def _loose_directory(home: Home, directory: Path, image: str | None) -> CrashInput:
    desc = directory / "description"
    if not desc.exists():
        raise ConfigError(f"{directory} is not a crash directory: no description file")
    title = desc.read_text(errors="replace").strip() or None
    progs = sorted(directory.glob("prog[0-9]*"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not progs:
        raise ConfigError(f"{directory}: no prog0.. file with the programs to replay")
    prog = progs[0]
    console = directory / prog.name.replace("prog", "log", 1)
    manifest_path = directory / MANIFEST_FILE
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError as e:
            raise ConfigError(f"{manifest_path} is corrupt: {e}") from None
    elif image is None:
        raise ConfigError(
            f"{directory}: not in a crash store and no {MANIFEST_FILE}: pass --image ID"
        )
    img = find_image(home, manifest, image, str(directory))
    entries = read_programs(prog)
    _check_programs(entries, img, str(prog))
    return CrashInput(
        what=str(directory),
        title=title,
        bucket_id=None,
        out_dir=directory,
        entries=entries,
        last_seq=last_marker(console.read_bytes()) if console.exists() else None,
        manifest=manifest,
        image=img,
        source=str(prog),
    )


def load(home: Home, crash: str, image: str | None = None) -> CrashInput:
    """Resolve CRASH (bucket id or prefix, crash directory, program file) into a checked input."""
    path = Path(crash)
    if path.is_dir():
        root = _store_of(path)
        if root is None:
            return _loose_directory(home, path, image)
        with CrashStore.open(root) as store:
            bucket = store.bucket(path.resolve().name)
            if bucket is None:
                return _loose_directory(home, path, image)
            return _from_store(
                Home(root) if root != home.root else home, store, bucket, None, image
            )
    if path.is_file():
        root = _store_of(path.parent)
        if root is not None and re.fullmatch(r"prog\d+", path.name):
            with CrashStore.open(root) as store:
                bucket = store.bucket(path.resolve().parent.name)
                if bucket is not None:
                    h = Home(root) if root != home.root else home
                    return _from_store(h, store, bucket, path, image)
        if image is None:
            raise ConfigError(f"{path}: a program file outside a crash store needs --image ID")
        img = find_image(home, {}, image, str(path))
        entries = read_programs(path)
        _check_programs(entries, img, str(path))
        return CrashInput(
            what=str(path),
            title=None,
            bucket_id=None,
            out_dir=path.parent / f"{path.stem}-repro",
            entries=entries,
            last_seq=None,
            manifest=img.manifest,
            image=img,
            source=str(path),
        )
    if not home.crash_db.exists():
        raise ConfigError(f"{crash!r} is no file or directory, and {home.root} has no crash store")
    with CrashStore.open(home.root) as store:
        bucket = store.bucket(crash)
        if bucket is None:
            raise ConfigError(
                f"{crash!r} is neither a crash directory, a program file nor a bucket id"
                f" in {store.db_path}"
            )
        return _from_store(home, store, bucket, None, image)
