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
