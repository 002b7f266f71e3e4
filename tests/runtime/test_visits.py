"""eval-visits: a replay's events scored against truth visits (matching windows, false events, accuracy)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from edge_agent.cli import main
from edge_agent.runtime.visits import read_events, read_truth, score

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def write_events(path, events, clip_s=200.0, fps=1.0):  # noqa: ANN001
    lines = [{"kind": "marker", "type": "replay_started", "ts": T0.isoformat(), "fps": fps}]
    for t, bay, typ, *extra in events:
        lines.append({"kind": "event", "type": typ, "bay_id": bay, "ts": (T0 + timedelta(seconds=t)).isoformat(),
                      "data": extra[0] if extra else {}})
    lines.append({"kind": "marker", "type": "replay_finished", "ts": (T0 + timedelta(seconds=clip_s)).isoformat(),
                  "clip_s": clip_s})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def test_visits_found_false_events_latency_and_accuracy(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s,scene\nA,0,60,lot\nA,100,150,lot\nB,20,,lot\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(4, "A", "vehicle_arrived", {"parked_at_start": True}), (70, "A", "vehicle_departed"),
                      (104, "A", "vehicle_arrived"), (180, "A", "vehicle_departed"),  # 30 s late: not found
                      (25, "B", "vehicle_arrived"), (40, "B", "vehicle_departed"),  # the car is still there
                      (90, "B", "vehicle_arrived")])
    r = score(read_truth(truth), read_events(ev))
    a, b, tot = r["bays"]["A"], r["bays"]["B"], r["total"]
    assert (a["parked_at_start"], a["parked_at_start_found"], a["arrivals"], a["arrivals_found"]) == (1, 1, 1, 1)
    assert (a["departures"], a["departures_found"], a["visits_found"], a["complete"]) == (2, 1, 1, 2)
    assert a["false_departures"] == 1 and a["false_arrivals"] == 0
    assert a["arrival_latency_s"] == {"mean": 4.0, "max": 4.0} and a["departure_latency_s"]["mean"] == 10.0
    assert (b["arrivals_found"], b["false_departures"], b["false_arrivals"]) == (1, 1, 1)
    assert tot["false_arrivals"] == 1 and tot["false_departures"] == 2 and r["scenes"]["lot"]["truth_visits"] == 3
    # A: truth occupied 0-60 and 100-150; agent 4-70 and 104-180 → disagrees 4+10+4+30 of 201 samples
    assert a["accuracy"] == pytest.approx((201 - 48) / 201, abs=1e-3)


def test_cli_prints_the_table_and_names_bad_input(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,10,5\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [])
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "truth.csv:2: need 0 ≤ start_s < end_s" in capsys.readouterr().err
    truth.write_text("bay_id,start_s,end_s\nA,10,50\n")
    ev.write_text('{"type": "vehicle_arrived", "ts": "2026-05-01T08:00:00+08:00"}\n')
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "no replay_started marker before line 1" in capsys.readouterr().err
    write_events(ev, [(12, "A", "vehicle_arrived"), (55, "A", "vehicle_departed")], clip_s=60)
    out = tmp_path / "r.json"
    assert main(["occupancy", "eval-visits", str(truth), str(ev), "--json", str(out)]) == 0
    assert "TOTAL" in capsys.readouterr().out and json.loads(out.read_text())["total"]["visits_found"] == 1
    out = tmp_path / "reports" / "night" / "r.json"  # a folder not made yet: made, as eval's --json makes it
    assert main(["occupancy", "eval-visits", str(truth), str(ev), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["total"]["visits_found"] == 1
    assert main(["occupancy", "eval-visits", str(tmp_path / "nope.csv"), str(ev)]) == 2  # was "[Errno 2] …: '…'"
    assert capsys.readouterr().err == f"eval-visits: {tmp_path / 'nope.csv'}: No such file or directory\n"


def test_truth_is_cut_to_the_clip(tmp_path):
    """A truth file for a whole recording scores a replay of its first 100 s: later visits are not missed ones,
    and a car still there at the clip's end owes no departure. Bays without a scene are not called a total."""
    truth = tmp_path / "truth.csv"
    truth.write_text("\ufeffbay_id,start_s,end_s\nA,20,150\nA,300,400\nB,40,80\n")  # spreadsheet BOM
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(24, "A", "vehicle_arrived"), (43, "B", "vehicle_arrived"), (92, "B", "vehicle_departed")],
                 clip_s=100.0)
    r = score(read_truth(truth), read_events(ev))
    a, tot = r["bays"]["A"], r["total"]
    assert (a["truth_visits"], a["arrivals_found"], a["departures"], a["complete"]) == (1, 1, 0, 0)
    assert (tot["truth_visits"], tot["visits_found"], tot["false_arrivals"], tot["false_departures"]) == (2, 1, 0, 0)
    assert list(r["scenes"]) == ["(no scene)"]
    # without the replay_finished marker the clip's end is unknown: nothing is cut
    ev.write_text("\n".join(ev.read_text().splitlines()[:-1]) + "\n")
    assert score(read_truth(truth), read_events(ev))["total"]["truth_visits"] == 3


def test_overlapping_truth_visits_and_bad_files_are_one_line_each(tmp_path, capsys):
    """One car at a time per bay: two overlapping visits (a row pasted twice) were scored as a missed
    arrival, not refused. A short row, a replay_finished without clip_s and an unwritable --json
    ended in tracebacks."""
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A", "vehicle_arrived"), (62, "A", "vehicle_departed")], clip_s=120)
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,10,60\nB,0,\nA,30,50\nB,5,9\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert capsys.readouterr().err == f"eval-visits: {truth}:4: bay A visit from 30 s overlaps the one on line 2 " \
                                      "(until 60 s)\n"
    truth.write_text("bay_id,start_s,end_s\nA,10,30\nA,30,60\nB\n")  # back to back is fine; B's row is short
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert f"{truth}:4: start_s / end_s must be numbers" in capsys.readouterr().err
    truth.write_text("bay_id,start_s,end_s\nA,10,60\n")
    lines = ev.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1] + [lines[-1].replace('"clip_s": 120', '"clip": 120')]) + "\n")
    assert main(["occupancy", "eval-visits", str(truth), str(cut)]) == 2
    assert f"{cut}:4: replay_finished without a clip_s number" in capsys.readouterr().err
    (tmp_path / "taken").write_text("")
    assert main(["occupancy", "eval-visits", str(truth), str(ev), "--json", str(tmp_path / "taken" / "r.json")]) == 2
    assert "eval-visits: cannot write --json" in capsys.readouterr().err


def test_two_replays_in_one_file_are_refused_and_unknown_bays_named(tmp_path, capsys):
    """Appending a second replay restarted clip time: its events scored as the first's. And a bay with
    events but no truth row is scored as empty all along, which a misspelt id also looks like."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,10,50\n")
    one, ev = tmp_path / "one.jsonl", tmp_path / "ev.jsonl"
    write_events(one, [(12, "A", "vehicle_arrived"), (55, "A", "vehicle_departed")], clip_s=60)
    lines = one.read_text().splitlines()
    ev.write_text("\n".join(lines + lines) + "\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert f"ev.jsonl:{len(lines) + 1}: a second replay_started marker" in capsys.readouterr().err
    write_events(ev, [(12, "A", "vehicle_arrived"), (55, "A", "vehicle_departed"), (20, "a2", "vehicle_arrived")],
                 clip_s=60)
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 0
    captured = capsys.readouterr()
    assert "no truth visit for bay(s) a2 with events: scored as empty all along" in captured.err
    assert "bay a2" in captured.out  # and scored: one false arrival


@pytest.mark.parametrize(("edit", "expected"), [
    (('"fps": 1.0', '"fps": NaN'), ":1: fps must be a number above 0 and at most 60, got nan"),
    (('"fps": 1.0', '"fps": 1e12'), ":1: fps must be a number above 0 and at most 60, got 1000000000000.0"),
    (('"fps": 1.0', '"fps": [5]'), ":1: fps must be a number above 0 and at most 60, got [5]"),
    (('"clip_s": 60', '"clip_s": Infinity'), ":3: replay_finished's clip_s must be a number from 0 to 604800, got inf"),
    (('"clip_s": 60', '"clip_s": 1e15'), ":3: replay_finished's clip_s must be a number from 0 to 604800, got 1000000000000000.0"),
    (('"bay_id": "A"', '"bay_id": ["A"]'), ":2: bay_id must be text and data a mapping"),
    (('"data": {}', '"data": [1]'), ":2: bay_id must be text and data a mapping"),
    (("+08:00", ""), ":1: ts '2026-05-01T08:00:00' has no UTC offset (replay writes one, e.g. +08:00)"),
    (('"ts": "2026-05-01T08:00:12+08:00"', '"ts": "9999-05-01T08:00:12+08:00"'), ":2: ts '9999-05-01T08:00:12+08:00' "
     "is 251603539212 s from replay_started: over a week of footage"),
])
def test_every_value_of_the_events_file_is_checked_and_named(tmp_path, capsys, edit, expected):
    """What the events file says was trusted: a NaN fps or an infinite clip_s raised (tracebacks), an fps of 1e12
    or a clip_s of 1e15 sampled the bays for ever, a naive ts against an aware one could not be subtracted, a
    bay_id list or a data list raised."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,10,50\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A", "vehicle_arrived")], clip_s=60)
    text = ev.read_text()
    assert edit[0] in text, text
    ev.write_text(text.replace(edit[0], edit[1], 1))
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"eval-visits: {ev}{expected}") and err.count("\n") == 1, err


def test_a_truth_cell_too_big_for_the_csv_reader_is_named(tmp_path, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,10," + "9" * 200_000 + "\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A", "vehicle_arrived")], clip_s=60)
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert capsys.readouterr().err == f"eval-visits: {truth}: not a truth CSV (field larger than field limit " \
                                      "(131072))\n"


def test_a_bay_whose_visits_all_follow_the_clip_keeps_its_scene_and_its_empty_frames(tmp_path):
    """One truth file for a whole recording, a replay of its first minute: bay B's only visit starts later.
    Its false arrival in the clip was filed under "(no scene)" and its 61 empty frames were counted nowhere."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s,scene\nA,0,30,lot\nA,50,,lot\nB,100,120,lot\nC,200,,lot\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(3, "A", "vehicle_arrived", {"parked_at_start": True}), (40, "A", "vehicle_departed"),
                      (55, "A", "vehicle_arrived"), (20, "B", "vehicle_arrived")], clip_s=60)
    r = score(read_truth(truth), read_events(ev))
    assert list(r["scenes"]) == ["lot"]
    a, b, c = r["bays"]["A"], r["bays"]["B"], r["bays"]["C"]
    # A, by hand at 1 fps, t = 0..60: truth occupied 0-29 and 50-60, agent 3-39 and 55-60 → 3 + 10 + 5 disagree
    assert (a["frames"], a["agree"], a["visits_found"], a["parked_at_start_found"]) == (61, 43, 1, 1)
    assert (a["arrival_latency_s"]["mean"], a["departure_latency_s"]["mean"]) == (5.0, 10.0)
    assert (b["frames"], b["agree"], b["false_arrivals"], b["truth_visits"]) == (61, 20, 1, 0)
    assert (c["frames"], c["agree"]) == (61, 61)
    assert r["scenes"]["lot"]["false_arrivals"] == 1 and r["total"]["frames"] == 183


def test_per_frame_accuracy_costs_one_pass_per_bay_not_one_per_sample(tmp_path, monkeypatch):
    """The state was looked up sample by sample against every visit: clip × visits per bay (4 h of 43 bays at
    5 fps: 9 s CPU, a day of them minutes). Counted as work, not time: one look-up per bay and side."""
    from edge_agent.runtime import visits

    rows, events = ["bay_id,start_s,end_s"], []
    for bay in ("A", "B"):
        for k in range(0, 3600, 600):
            rows.append(f"{bay},{k + 60},{k + 400}")
            events += [(k + 63, bay, "vehicle_arrived"), (k + 410, bay, "vehicle_departed")]
    truth = tmp_path / "truth.csv"
    truth.write_text("\n".join(rows) + "\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, events, clip_s=3600, fps=5)
    calls = []
    real = visits._occupied
    monkeypatch.setattr(visits, "_occupied", lambda iv, t: calls.append(1) or real(iv, t))
    r = score(read_truth(truth), read_events(ev))
    assert len(calls) == 4
    # per bay and visit: 3 s late in, 10 s late out → 13 s × 5 fps disagree, of 18,001 samples
    assert r["bays"]["A"]["agree"] == 18001 - 6 * 13 * 5 and r["total"]["frames"] == 2 * 18001


def test_truth_lines_are_named_as_the_file_numbers_them_and_blank_rows_are_skipped(tmp_path, capsys):
    """A blank line before a bad row named the line above it (rows were counted, not lines); ``,,,`` rows below
    a spreadsheet's table and a header typed with spaces were refused."""
    truth = tmp_path / "truth.csv"
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A", "vehicle_arrived"), (55, "A", "vehicle_departed")], clip_s=60)
    truth.write_text('bay_id,start_s,end_s,note\r\nA,10,50,"two\r\nlines"\r\n\r\nB,50,40,x\r\n')
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "truth.csv:5: need 0 ≤ start_s < end_s" in capsys.readouterr().err
    truth.write_text("bay_id, start_s, end_s\nA, 10, 50\n,,\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 0
    assert "TOTAL" in capsys.readouterr().out
    truth.write_text("Bay,Start,End\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "the header has: 'Bay', 'Start', 'End'" in capsys.readouterr().err


def test_a_run_that_stops_a_false_arrival_on_a_bay_without_truth_visits_scores_better_not_worse(tmp_path):
    """Bay B had no truth visit (empty all along). It was scored only while the agent reported something there: a
    run that stopped B's false arrival lost B's 61 right empty frames from the total and scored worse (d0415's
    D02: 0.8942 with its false arrival and departure, 0.8926 without). The replayed config's bays (the start
    marker names them) are scored in both runs."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s,scene\nA,0,30,lot\n")
    runs = []
    for name, events in (("noisy", [(3, "A", "vehicle_arrived", {"parked_at_start": True}),
                                    (31, "A", "vehicle_departed"), (10, "B", "vehicle_arrived"),
                                    (20, "B", "vehicle_departed")]),
                         ("clean", [(3, "A", "vehicle_arrived", {"parked_at_start": True}),
                                    (31, "A", "vehicle_departed")])):
        ev = tmp_path / f"{name}.jsonl"
        write_events(ev, events, clip_s=60)
        rows = ev.read_text().splitlines()
        ev.write_text("\n".join([json.dumps({**json.loads(rows[0]), "bays": ["A", "B", "C"]}), *rows[1:]]) + "\n")
        runs.append(score(read_truth(truth), read_events(ev)))
    noisy, clean = runs
    assert list(noisy["bays"]) == list(clean["bays"]) == ["A", "B", "C"]  # C: no truth, no events, still a bay
    assert (noisy["bays"]["B"]["agree"], clean["bays"]["B"]["agree"]) == (51, 61)  # occupied at t = 10..19
    assert noisy["total"]["frames"] == clean["total"]["frames"] == 183
    assert clean["total"]["accuracy"] > noisy["total"]["accuracy"]


def test_a_truth_bay_the_replayed_config_does_not_have_is_named(tmp_path, capsys):
    """A truth bay spelt otherwise than in the config ("A1" for "A01") had every visit missed with no word:
    only the other direction (events of a bay the truth lacks) was named."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA01,10,50\nA1,5,40\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A01", "vehicle_arrived"), (55, "A01", "vehicle_departed")], clip_s=60)
    lines = ev.read_text().splitlines()
    marker = json.loads(lines[0])
    ev.write_text("\n".join([json.dumps({**marker, "bays": ["A01", "B01"]}), *lines[1:]]) + "\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 0
    assert "truth bay(s) A1 not in the replayed config: their visits count as missed" in capsys.readouterr().err
    ev.write_text("\n".join([json.dumps({**marker, "bays": "A01"}), *lines[1:]]) + "\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "ev.jsonl:1: replay_started's bays must be a list of bay ids" in capsys.readouterr().err


def test_an_arrival_or_departure_too_close_to_the_clip_end_to_be_reported_is_not_a_miss(tmp_path):
    """A car arriving 2 s before the clip ends cannot be confirmed in it (arrival confirm 3 s), nor a departure
    3 s before the end reported (departure confirm 10 s): both were charged as misses. One the agent did report
    in time counts as any other."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,30,57\nB,58,\nC,20,52\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(33, "A", "vehicle_arrived"), (23, "C", "vehicle_arrived"), (56, "C", "vehicle_departed")],
                 clip_s=60)
    r = score(read_truth(truth), read_events(ev))
    a, b, c = r["bays"]["A"], r["bays"]["B"], r["bays"]["C"]
    assert (a["arrivals"], a["arrivals_found"], a["departures"], a["complete"]) == (1, 1, 0, 0)
    assert (b["arrivals"], b["arrivals_found"], b["truth_visits"]) == (0, 0, 1)
    assert (c["departures"], c["departures_found"], c["visits_found"], c["complete"]) == (1, 1, 1, 1)
    assert (r["total"]["false_arrivals"], r["total"]["false_departures"]) == (0, 0)


def test_the_json_names_each_false_event_and_each_missed_change(tmp_path):
    """The counts say how many events were false; finding out why needs which bay and when (the
    classifier's reading there, the picture): the report lists them, in clip seconds."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA,0,60\nA,100,150\nB,20,\nC,0,\n")
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(4, "A", "vehicle_arrived", {"parked_at_start": True}), (70, "A", "vehicle_departed"),
                      (104, "A", "vehicle_arrived"), (180, "A", "vehicle_departed"),  # 30 s late
                      (45, "B", "vehicle_arrived"),  # 25 s late
                      (3, "C", "vehicle_arrived"),  # not flagged: the parked car is not recognised as such
                      (50, "D", "vehicle_arrived")])  # a bay the truth never fills
    r = score(read_truth(truth), read_events(ev))
    assert r["false_events"] == [{"bay_id": "B", "type": "vehicle_arrived", "t_s": 45.0},
                                 {"bay_id": "D", "type": "vehicle_arrived", "t_s": 50.0},
                                 {"bay_id": "A", "type": "vehicle_departed", "t_s": 180.0}]
    assert r["missed"] == [{"bay_id": "C", "kind": "parked_at_start", "t_s": 0.0},
                           {"bay_id": "B", "kind": "arrival", "t_s": 20.0},
                           {"bay_id": "A", "kind": "departure", "t_s": 150.0}]
    tot = r["total"]
    assert len(r["false_events"]) == tot["false_arrivals"] + tot["false_departures"]
    assert len(r["missed"]) == (tot["arrivals"] - tot["arrivals_found"] + tot["departures"] - tot["departures_found"]
                                + tot["parked_at_start"] - tot["parked_at_start_found"])


@pytest.mark.parametrize("which", ["truth", "events"])
def test_a_device_or_fifo_is_refused_not_read_for_ever(tmp_path, which):
    """``eval-visits TRUTH /dev/zero`` read one endless line (1.6 GB of memory in 8 s, then the OOM killer), and a
    FIFO for the truth file waited for a writer for ever: a truth or events file is a regular file, as every other
    command's input is. Run as its own process, its memory capped, so that a hang or a leak fails here."""
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    truth, ev = tmp_path / "truth.csv", tmp_path / "ev.jsonl"
    truth.write_text("bay_id,start_s,end_s\nA,10,20\n")
    write_events(ev, [(12, "A", "vehicle_arrived")], clip_s=60)
    if which == "truth":
        truth = tmp_path / "fifo"
        os.mkfifo(truth)
    else:
        ev = Path("/dev/zero")

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "edge_agent", "occupancy", "eval-visits", str(truth), str(ev)],
                         capture_output=True, text=True, timeout=90, cwd=root, preexec_fn=cap)
    bad = truth if which == "truth" else ev
    assert out.returncode == 2 and out.stderr == f"eval-visits: {bad}: not a regular file\n", out.stderr[-500:]


def test_a_truth_bay_the_events_never_name_is_said_and_no_match_at_all_is_refused(tmp_path, capsys):
    """An events file whose marker lists no bays (an older replay, one put together by hand): a truth bay spelt
    otherwise ("A1" for "A01") scored as all missed, exit 0, with no word. Now named; and a truth file none of
    whose bays the replay knows (another site's, every id misspelt) is refused, exit 2, nothing scored."""
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s\nA01,10,50\nA1,5,40\n")
    ev, out = tmp_path / "ev.jsonl", tmp_path / "r.json"
    write_events(ev, [(12, "A01", "vehicle_arrived"), (55, "A01", "vehicle_departed")], clip_s=60)
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 0
    captured = capsys.readouterr()
    assert "eval-visits: truth bay(s) A1 not in the events (whose marker lists no bays): their visits count as " \
           "missed (check the bay ids)" in captured.err and "bay A1" in captured.out
    truth.write_text("bay_id,start_s,end_s\na01,10,50\nA-01,5,40\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev), "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert "eval-visits: no truth bay is in the events (whose marker lists no bays): truth A-01, a01, replay A01; " \
           "check the bay ids (nothing scored)" in captured.err
    assert captured.out == "" and not out.exists()
    marker = json.loads(ev.read_text().splitlines()[0])  # a replay's own marker names its config's bays
    ev.write_text("\n".join([json.dumps({**marker, "bays": ["A01", "B01"]}), *ev.read_text().splitlines()[1:]]))
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert "no truth bay is in the replayed config: truth A-01, a01, replay A01, B01" in capsys.readouterr().err


def test_a_truth_header_naming_a_column_twice_is_refused(tmp_path, capsys):
    """``bay_id,start_s,end_s,end_s`` (a corrected column pasted beside the old one): the reader kept the last,
    blank, and every visit was scored as still running at the clip's end, exit 0."""
    ev = tmp_path / "ev.jsonl"
    write_events(ev, [(12, "A", "vehicle_arrived"), (62, "A", "vehicle_departed")], clip_s=120)
    truth = tmp_path / "truth.csv"
    truth.write_text("bay_id,start_s,end_s,end_s\nA,10,60,\n")
    assert main(["occupancy", "eval-visits", str(truth), str(ev)]) == 2
    assert capsys.readouterr().err == (f"eval-visits: {truth}: column 'end_s' is in the header twice (columns 3 "
                                       "and 4): keep the one meant\n")
