"""lgpio (gpiozero's factory on a Pi 5) makes its notification pipe in its working directory at import.

Run from a folder the user may not write — the doctor ``install.sh`` runs as the service user from wherever sudo
was typed, ``sudo -u edge-agent … doctor`` from a home folder — the import failed (``No such file or directory:
'.lgd-nfy-3'``) and gpiozero fell back to factories a Pi 5 does not have: the doctor's gpio row failed on a device
whose service then drove its locks. ``/proc`` is the folder nobody may make a pipe in, root included.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

UNWRITABLE = "/proc"


def _in(cwd: str, code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` (which prints one JSON object) in a fresh interpreter started in ``cwd``."""
    base = {k: v for k, v in os.environ.items() if k != "LG_WD"}
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**base, **(env or {})},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


DECIDE = """
import json, os, sys
from edge_agent.locks.lgpio_dir import lgpio_workdir
with lgpio_workdir(sys.argv[1] if len(sys.argv) > 1 else {data!r}):
    inside = os.environ.get("LG_WD")
    os.chdir({data!r})  # what lgpio's import does with LG_WD
print(json.dumps({{"LG_WD": inside, "cwd": os.getcwd()}}))
"""


def test_an_unwritable_working_directory_sends_lgpio_to_the_data_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    out = _in(UNWRITABLE, DECIDE.format(data=str(data)))
    assert out == {"LG_WD": str(data.resolve()), "cwd": UNWRITABLE}  # the process's folder given back
    assert not list(data.iterdir())  # the probe left nothing behind


def test_a_writable_working_directory_or_an_operators_lg_wd_is_left_alone(tmp_path):
    data, here, mine = tmp_path / "data", tmp_path / "here", tmp_path / "mine"
    for d in (data, here, mine):
        d.mkdir()
    code = DECIDE.format(data=str(data)).replace("os.chdir(", "(")
    assert _in(str(here), code)["LG_WD"] is None
    assert _in(UNWRITABLE, code, env={"LG_WD": str(mine)})["LG_WD"] == str(mine)
    assert list(here.iterdir()) == []


GPIO_ROW = """
import json, os, pathlib, yaml
from edge_agent.config import load_config
from edge_agent.ops.doctor import check_gpio
raw = yaml.safe_load(open({example!r}, encoding="utf-8"))
raw["data_dir"] = {data!r}
path = pathlib.Path({data!r}).parent / "config.yaml"
path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
row = check_gpio(load_config(path), env={{}}, chips=["/dev/null"])
print(json.dumps({{"status": row.status, "detail": row.detail, "cwd": os.getcwd()}}))
"""


def test_the_doctor_loads_lgpio_from_a_folder_it_may_not_write(tmp_path):
    """With the real lgpio (the ``pi`` extra) and the Pi example's gpiozero locks: its import no longer fails on
    the working directory. Off a Pi the row still fails — for the board, not for the folder."""
    if importlib.util.find_spec("lgpio") is None:  # not imported here: its import makes a pipe in this folder
        pytest.skip("lgpio (the pi extra) is not installed")
    data = tmp_path / "data"
    data.mkdir()
    out = _in(UNWRITABLE, GPIO_ROW.format(example=str(REPO / "config" / "rpi5-two-bays.yaml"), data=str(data)))
    assert "lgpio" in out["detail"] or out["status"] == "pass", out
    assert ".lgd-nfy" not in out["detail"], out
    assert out["cwd"] == UNWRITABLE
    assert [p.name for p in data.iterdir() if p.name.startswith(".lgd-nfy")]  # lgpio's pipe went there
