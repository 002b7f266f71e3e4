"""The service's output is a log (the journal under systemd, ``docker logs`` in the Jetson container), and logs are
copied into syslog, support bundles and tickets: it names bays, visits and event ids, never a plate — licence plates
tied to a place and a time are personal information (PIPL, GDPR). The plates stay in ``events.jsonl``, MQTT and the
evidence store, which keep them for a set time ([docs/bays.md](../../docs/bays.md#personal-data)).

Each shipped entry point's own arguments run a real ``edge-agent run`` over a fuel car's frames (real models)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.test_run_end_to_end import _config, _frames

REPO = Path(__file__).resolve().parents[2]


def _unit_args() -> list[str]:
    line = next(x for x in (REPO / "deploy" / "edge-agent.service").read_text().splitlines()
                if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))[1:]


def _container_args() -> list[str]:
    m = re.search(r"^CMD (\[.*\])$", (REPO / "deploy" / "jetson" / "Dockerfile").read_text(), re.M)
    assert m, "the Jetson Dockerfile has no CMD"
    return json.loads(m.group(1))


@pytest.mark.parametrize("shipped", [_unit_args, _container_args], ids=["systemd_unit", "jetson_container"])
def test_the_shipped_service_logs_no_plate(tmp_path: Path, models_dir: Path, shipped) -> None:
    _frames(tmp_path / "frames")
    config = _config(tmp_path, 9, models_dir)
    data = config.read_text().replace("enabled: true", "enabled: false")  # no broker: the outbox is not the point
    config.write_text(data)
    args = shipped()
    args[args.index("--config") + 1] = str(config)
    proc = subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kept = (tmp_path / "data" / "events.jsonl").read_text(encoding="utf-8")
    assert '"plate": "京A12345"' in kept  # the car was read: the events file has it
    logged = proc.stdout + proc.stderr
    assert "京A" not in logged and "A12345" not in logged, logged[-2000:]
