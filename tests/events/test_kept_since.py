"""``mqtt_link.kept_since`` against the lists applied one by one in arrival order: held ``set-lists`` commands and
the page's list edits (a plate on one list and off the other) in every order within one window (review76: merged
from the lists alone, 2,418 of 20,000 such sequences ended otherwise than in arrival order)."""

from __future__ import annotations

import random

from edge_agent.events.mqtt_link import kept_since

PLATES = [f"京AD0000{i}" for i in range(5)]
LISTS = ("allow", "deny")


def _page(lists: tuple[list[str], list[str]], plate: str, which: int) -> tuple[list[str], list[str]]:
    on, off = {*lists[which], plate}, set(lists[1 - which]) - {plate}
    return (sorted(on), sorted(off)) if which == 0 else (sorted(off), sorted(on))


def test_held_lists_merged_with_the_pages_edits_end_as_in_arrival_order():
    for seed in range(1000):
        r = random.Random(seed)
        allow = sorted(r.sample(PLATES, r.randint(0, 3)))
        start = (allow, sorted(set(r.sample(PLATES, r.randint(0, 2))) - set(allow)))
        steps: list[tuple[str, object]] = []
        for _ in range(r.randint(1, 5)):
            if r.random() < 0.5:
                body = {k: sorted(r.sample(PLATES, r.randint(0, 3))) for k in LISTS if r.random() < 0.6}
                steps.append(("command", body or {"allow": []}))
            else:
                steps.append(("page", (r.choice(PLATES), r.randint(0, 1))))
        want, running, words = start, start, []  # one by one; and as the link sees it (the commands held)
        held: list[list[str] | None] = [None, None]
        base: list[tuple[tuple[list[str], list[str]], int] | None] = [None, None]
        for kind, step in steps:
            if kind == "command":
                assert isinstance(step, dict)
                want = (step.get("allow", want[0]), step.get("deny", want[1]))
                for i, k in enumerate(LISTS):
                    if k in step:
                        held[i], base[i] = step[k], (running, len(words))
            else:
                assert isinstance(step, tuple)
                want, running = _page(want, *step), _page(running, *step)
                words.append((step[0], LISTS[step[1]]))
        got = tuple(running[i] if held[i] is None else
                    sorted(set(kept_since(held[i], base[i][0], running, i, words[base[i][1]:]) or []))  # type: ignore[index]
                    for i in range(2))
        assert got == tuple(sorted(set(w)) for w in want), (seed, start, steps)
