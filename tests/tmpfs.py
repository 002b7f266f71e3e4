"""A real small file system for disk-full tests: a tmpfs of a few MB, mounted for one test.

Why not a mock: what fails on a full disk (SQLite's WAL, a half-written JPEG, the order in
which space comes back) is what a fake would have to guess. Needs root (or CAP_SYS_ADMIN);
skipped cleanly where mounting is not permitted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def tiny_disk(tmp_path):  # noqa: ANN001, ANN201
    """A factory: ``tiny_disk(size_mb)`` → a mounted tmpfs folder (unmounted at teardown)."""
    mounted: list[Path] = []

    def make(size_mb: float = 3.0) -> Path:
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size_mb * 1024)}k", "tmpfs", str(d)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Write a filler file until only ``leave_bytes`` (roughly, page-rounded) are free."""
    import shutil

    filler = disk / "filler.bin"
    with open(filler, "ab") as f:
        while shutil.disk_usage(disk).free > leave_bytes:
            chunk = min(64 * 1024, shutil.disk_usage(disk).free - leave_bytes)
            if chunk <= 0:
                break
            try:
                f.write(b"\xaa" * chunk)
                f.flush()
            except OSError:
                break
    return filler


@pytest.fixture
def failing_disk(tmp_path):  # noqa: ANN001, ANN201
    """A real ext4 file system on a loop device, mounted ``errors=remount-ro``; ``fail()`` makes the
    kernel turn it read-only at once, as it does when an SD card reports an I/O error. Yields
    ``(folder, fail)``; skipped where loop mounts or ext4's ``trigger_fs_error`` are unavailable."""
    import shutil

    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    image, folder = tmp_path / "card.ext4", tmp_path / "card"
    folder.mkdir()
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    res = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(folder)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot loop-mount an ext4 image here: {res.stderr.strip()}")
    source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(folder)], capture_output=True, text=True)
    trigger = Path("/sys/fs/ext4") / Path(source.stdout.strip()).name / "trigger_fs_error"
    try:
        if not trigger.exists():
            pytest.skip(f"{trigger} is missing: this kernel cannot fail an ext4 file system on demand")

        def fail() -> None:
            trigger.write_text("edge-agent test: the card failed\n")

        yield folder, fail
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
