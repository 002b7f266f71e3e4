"""Finding the visits the last run left open costs in proportion to the history, not its square (review99).

``_OPEN_VISITS`` (every start: ``open_bays``, ``closing``) looked for each arrival's departure through the
``events_type`` index, so SQLite walked every departure for every arrival: 4,000 departed visits took 6.5 s on the
test machine, a year of a busy two-bay site (~16,000) minutes on a Pi, at each start, on the frame loop's way up.
Counted in SQLite's own steps (``set_progress_handler``): deterministic, no wall clock."""

from __future__ import annotations

from edge_agent.clock import FakeClock
from edge_agent.evidence.runs import RunLedger
from edge_agent.evidence.violations import _SCHEMA

VISITS = 2000
STEPS = 1000  # SQLite VM instructions per progress call


def _ledger_with_departed_visits(tmp_path) -> RunLedger:  # noqa: ANN001
    ledger = RunLedger(tmp_path / "evidence.db", FakeClock())
    db = ledger._db
    db.executescript(_SCHEMA)
    rows = [
        (f"e{v}-{k}", t, "x", v * 100.0 + k, "A", f"v{v}", None, "{}")
        for v in range(VISITS)
        for k, t in enumerate(("vehicle_arrived", "vehicle_identified", "vehicle_departed"))
    ]
    with db:
        db.executemany(
            "INSERT INTO events (event_id, type, ts, ts_epoch, bay_id, visit_id, evidence_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return ledger


def test_the_open_visits_are_found_in_steps_proportional_to_the_visits(tmp_path):
    ledger = _ledger_with_departed_visits(tmp_path)
    calls = [0]

    def count() -> int:
        calls[0] += 1
        return 0

    ledger._db.set_progress_handler(count, STEPS)
    try:
        assert ledger.open_bays() == set()
    finally:
        ledger._db.set_progress_handler(None, STEPS)
        ledger.close()
    # ~ a few dozen instructions per visit (three index probes); the square is VISITS**2 = 4 million visits looked at
    assert calls[0] * STEPS < 200 * VISITS, f"{calls[0] * STEPS} SQLite steps for {VISITS} visits"
