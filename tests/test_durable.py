"""``durable.output_folder``: a stop signal at any point of the swap leaves one whole folder and nothing beside it.

A SIGTERM is an exception in the main thread (``cli.Terminated``), raised between any two bytecodes, also
between the two renames or right after the last: the real ``os.replace`` runs, then the interrupt is raised.
"""

from __future__ import annotations

import os
import threading

import pytest

from edge_agent import durable


def _fill(folder, text):
    folder.mkdir()
    (folder / "failures.csv").write_text(text)


@pytest.mark.parametrize("after", [1, 2])
def test_an_interrupt_right_after_a_rename_leaves_one_whole_folder(tmp_path, monkeypatch, after):
    """``after`` 2: interrupted just after the new folder took the old one's place — the restore tried to move
    the old folder back over the new, non-empty one: an ``OSError`` (said as a file error, exit 2) instead of the
    interrupt, and ``.fail.<pid>.old`` left beside it for good. ``after`` 1: just after the old folder was moved
    aside — the folder was gone, the old one left as ``.fail.<pid>.old``, the new one deleted."""
    fail = tmp_path / "fail"
    _fill(fail, "old run")
    calls = []
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        calls.append(src)
        if len(calls) == after:
            raise KeyboardInterrupt

    monkeypatch.setattr(durable.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with durable.output_folder(fail) as scratch:
            (scratch / "failures.csv").write_text("new run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fail"]
    assert (fail / "failures.csv").read_text() == ("new run" if after == 2 else "old run")


def test_the_folder_is_replaced_whole(tmp_path):
    fail = tmp_path / "fail"
    _fill(fail, "old run")
    (fail / "003_missed.jpg").write_bytes(b"x")
    with durable.output_folder(fail) as scratch:
        (scratch / "failures.csv").write_text("new run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fail"]
    assert [p.name for p in fail.iterdir()] == ["failures.csv"]


def test_a_scratch_name_planted_as_a_link_is_never_written_through(tmp_path):
    """The scratch files beside a replaced file have names one can guess (``users.txt.tmp``,
    ``occupancy-calibration.tmp``, ``.name.PID.tmp``), and they were opened as any file, following a link: root
    running ``occupancy calibrate --out /var/lib/edge-agent/…`` (as deployment.md says) or ``users add`` wrote
    through a link the agent's user had planted in its own folder — into ``/etc/passwd``, truncated. Each writer
    now makes its scratch file new (``O_EXCL | O_NOFOLLOW``), after removing a name it finds there."""
    from edge_agent.bays.calibration import Head, SiteCalibration
    from edge_agent.web.auth import UsersFile

    victim = tmp_path / "victim"
    victim.write_text("root:x:0:0\n")
    cases = [
        (tmp_path / "state.json", tmp_path / "state.json.tmp",
         lambda p, t: durable.write_durably(p, b"{}", t)),
        (tmp_path / "auto.json", tmp_path / f".auto.json.{os.getpid()}.{threading.get_native_id()}.tmp",
         lambda p, t: durable.write_durably(p, b"{}")),
        (tmp_path / "cal.json", tmp_path / "cal.tmp",
         lambda p, t: SiteCalibration(Head((0.0,) * 4, 0.0), "sha", 5, 5, 0.5, 0.6).save(p)),
        (tmp_path / "users.txt", tmp_path / "users.txt.tmp",
         lambda p, t: UsersFile(p).set("admin", "long enough pw")),
    ]
    for path, scratch, write in cases:
        scratch.symlink_to(victim)
        write(path, scratch)
        assert victim.read_text() == "root:x:0:0\n", path.name
        assert path.is_file() and not path.is_symlink() and not scratch.exists() and not scratch.is_symlink()


@pytest.mark.parametrize("name", ["sheet.jpg", "sheet-\udcff.jpg"], ids=["utf8", "not-utf8"])
def test_an_image_is_never_written_through_a_link_at_its_name(tmp_path, name):
    """``occupancy label --out /var/lib/edge-agent/labels/…`` (run by root, as deployment.md says) wrote its frame
    and its sheets by name with OpenCV, through a link the agent's user had planted at that name. An image now
    goes to a scratch file made new beside it and is renamed over the name: the link is replaced, its target
    untouched. A folder that is not there is ``False``, as OpenCV said it."""
    import numpy as np

    from edge_agent import imfile

    victim = tmp_path / "victim"
    victim.write_text("root:x:0:0\n")
    path = tmp_path / name
    path.symlink_to(victim)
    assert imfile.imwrite(path, np.zeros((8, 8, 3), np.uint8)) is True
    assert victim.read_text() == "root:x:0:0\n" and not path.is_symlink() and path.read_bytes()[:2] == b"\xff\xd8"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "victim"])
    assert imfile.imwrite(tmp_path / "none" / "x.jpg", np.zeros((8, 8, 3), np.uint8)) is False


def test_two_threads_replacing_one_file_keep_their_own_scratch(tmp_path, monkeypatch):
    """The default scratch name was ``.{name}.{pid}.tmp``: a second thread replacing the same file (the
    installer's Save on its worker thread beside the frame loop) removed the first one's scratch file on the way
    (``open_scratch`` removes a name it finds) and the first one's rename failed (``FileNotFoundError``). The
    second writer runs here at the moment the first one syncs its scratch file."""
    path = tmp_path / "state.json"
    real_fsync = os.fsync
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            durable.write_durably(path, b"second", sync_dir=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def fsync(fd: int) -> None:
        if threading.current_thread() is threading.main_thread() and not errors and not path.exists():
            t = threading.Thread(target=other_writer)
            t.start()
            t.join()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    durable.write_durably(path, b"first", sync_dir=False)
    assert errors == [] and path.read_bytes() == b"first"  # the later rename wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no scratch file left behind
