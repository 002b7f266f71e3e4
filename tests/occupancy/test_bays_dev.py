"""The shipped model on the real labelled frames of bays-dev (skips without ../shared).

The shipped model saw these PKLot frames in training, but with our own polygons (models/labels/),
not the dataset's looser ones scored here: this checks the crop path and the eval command end to end
against a measured floor (models/README.md) minus a margin for library drift.
"""

from __future__ import annotations

import json

from edge_agent.cli import main

# Measured with the committed model (models/README.md): accuracy, occupied recall, empty recall.
MEASURED = {"accuracy": 0.912, "occupied_recall": 0.998, "empty_recall": 0.865}
MARGIN = 0.03


def test_eval_on_bays_dev_frames(bays_dev, tmp_path, capsys):
    out = tmp_path / "pred.json"
    assert main(["occupancy", "eval", str(bays_dev / "frames.csv"), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["predictions"]) == 1200
    m = doc["metrics"]["overall"]
    for key, value in MEASURED.items():
        assert m[key] >= value - MARGIN, (key, m)
    assert "pklot_ufpr05 / sunny" in capsys.readouterr().out
