"""Over a real mosquitto: a flood of ``set-lists`` rewrote ``{data_dir}/overrides.yaml`` (written durably: fsync,
rename) as fast as the command thread served them — an SD card's wear at the rate of the flood. Those that come
within ``LISTS_EVERY_S`` of the last write are held and applied together, once (each list as the last of them to
name it says), and every one of them is answered with that write's outcome."""

from __future__ import annotations

import threading

import pytest

from edge_agent.events.mqtt_link import LISTS_EVERY_S, LISTS_HELD
from tests.events.helpers import RecordingControl, wait_until
from tests.events.test_command_hardening import (  # noqa: F401 - setup: the fixture
    now,
    reply_with,
    send,
    setup,
)

pytestmark = pytest.mark.broker


def _lists_calls(control) -> list[tuple]:
    return [c for c in control.calls if c[0] == "set_lists"]


def test_set_lists_within_the_window_are_written_once_last_writer_wins_and_all_answered(setup):  # noqa: F811
    make, backend, control, clock = setup
    link = make()
    first = send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"]}, "backend/l")
    assert reply_with(backend, first).json()["ok"]
    later = [
        send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B00002"]}, "backend/l"),
        send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00003"]}, "backend/l"),
        send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00004"], "deny": []}, "backend/l"),
        send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B00005"]}, "backend/l"),
    ]
    wait_until(lambda: link._cmd_q.qsize() == 0 and len(link._held_lists) == 4, what="the four held")
    # held, each keeps whom to answer, not its payload or lists (100 held of 20 MB each would be 2 GB)
    assert all(c.payload == b"" and set(b) <= {"reply_to", "correlation_id", "id"} for c, b in link._held_lists)
    assert len(_lists_calls(control)) == 1  # nothing written yet: the window since the first is open
    clock.advance(LISTS_EVERY_S)
    replies = [reply_with(backend, c).json() for c in later]
    assert [(r["ok"], r["code"], r["command"]) for r in replies] == [(True, "ok", "set-lists")] * 4
    assert _lists_calls(control) == [("set_lists", ["京AD00001"], None), ("set_lists", ["京AD00004"], ["粤B00005"])]


def test_a_held_set_lists_is_applied_and_answered_at_stop(setup):  # noqa: F811
    make, backend, control, clock = setup
    link = make()
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": []}, "backend/l")).json()["ok"]
    held = send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B00002"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the second held")
    link.stop()
    assert reply_with(backend, held).json()["ok"]
    assert _lists_calls(control)[-1] == ("set_lists", None, ["粤B00002"])


def test_a_flood_of_set_lists_writes_at_most_once_a_window_and_answers_every_command(setup):  # noqa: F811
    make, backend, control, clock = setup
    link = make()
    flood = [send(backend, "set-lists", {"ts": now(clock), "allow": [f"京AD{i:05d}"]}, "backend/l") for i in range(300)]
    wait_until(lambda: link._cmd_q.qsize() == 0 and len(link._held_lists) + link.commands_busy >= 299,
               what="the flood read")
    clock.advance(LISTS_EVERY_S)
    codes = [reply_with(backend, c).json()["code"] for c in flood]
    assert len(_lists_calls(control)) == 2  # the first at once, the rest held in one window: one more write
    assert codes.count("ok") + codes.count("busy") == 300 and codes.count("ok") <= 1 + LISTS_HELD
    assert _lists_calls(control)[-1][1] == [f"京AD{max(i for i, c in enumerate(codes) if c == 'ok'):05d}"]


def test_a_page_edit_while_a_set_lists_is_held_is_kept(setup):  # noqa: F811
    """The page lists a plate (the agent's lists changed at once) while a later ``set-lists`` waits out the window:
    the held command then replaced the whole lists with its own, and the reviewer's plate was gone, on the agent and
    in ``overrides.yaml`` (attacker35, review68). In arrival order the command came first and the page's edit after
    it: the edits made since the command was held are kept on top of it."""
    make, backend, control, clock = setup
    link = make()
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"],
                                                          "deny": ["粤B00009"]}, "backend/l")).json()["ok"]
    held = send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00002"], "deny": ["粤B00009"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the second held")
    # the page, meanwhile: 粤B00009 moved to allow, 粤B00003 denied (each edit hands the agent both lists whole)
    control.set_lists(["京AD00001", "粤B00009"], [])
    control.set_lists(["京AD00001", "粤B00009"], ["粤B00003"])
    clock.advance(LISTS_EVERY_S)
    assert reply_with(backend, held).json()["ok"]
    assert control.plate_lists() == (["京AD00002", "粤B00009"], ["粤B00003"])


def test_a_plate_the_page_moves_to_the_other_list_while_a_set_lists_is_held_leaves_the_held_list(setup):  # noqa: F811
    """The page's list edit puts a plate on one list and takes it off the other; a ``set-lists`` held meanwhile named
    that plate on the other list (the backend's deny before the reviewer's allow). In arrival order the reviewer's
    allow came last and the plate is allowed only; the held deny was kept whole on top, so the plate ended on both
    lists, and ``PlateLists.lookup`` says deny wins: the car the reviewer had just allowed was still denied
    (review76). Also for a held entry written otherwise than the agent keeps it (``粤b00009``: the agent's lists
    are normalised)."""
    make, backend, control, clock = setup
    link = make()
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"],
                                                          "deny": ["粤B00008"]}, "backend/l")).json()["ok"]
    held = send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B00009", "粤b00008"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the second held")
    # the page, meanwhile: 粤B00009 allowed (off deny: it was not there yet), then 粤B00008 allowed (off deny)
    control.set_lists(["京AD00001", "粤B00009"], ["粤B00008"])
    control.set_lists(["京AD00001", "粤B00008", "粤B00009"], [])
    clock.advance(LISTS_EVERY_S)
    assert reply_with(backend, held).json()["ok"]
    assert control.plate_lists() == (["京AD00001", "粤B00008", "粤B00009"], [])


def test_two_held_set_lists_and_two_page_edits_end_as_in_arrival_order(setup):  # noqa: F811
    """Command, page edit, command, page edit, all within one window: each list as applied one by one in that
    order (the later command replaces what the page did before it; the page's later edit is kept on top)."""
    make, backend, control, clock = setup
    link = make()
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"],
                                                          "deny": ["粤B00008"]}, "backend/l")).json()["ok"]
    first = send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00002"], "deny": ["粤B00007"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the first held")
    control.set_lists(["京AD00001", "粤B00008"], [])  # the page allows 粤B00008 (arrival order: allow +, deny -)
    second = send(backend, "set-lists", {"ts": now(clock), "deny": ["粤B00006", "京AD00002"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 2, what="the second held")
    control.set_lists(["京AD00001", "粤B00006", "粤B00008"], [])  # the page allows 粤B00006 (off deny)
    clock.advance(LISTS_EVERY_S)
    assert reply_with(backend, first).json()["ok"] and reply_with(backend, second).json()["ok"]
    # one by one: allow [京AD00002], deny [粤B00007]; the page: allow + 粤B00008; the second: deny [粤B00006,
    # 京AD00002] (京AD00002 on both: the backend's own word, deny wins); the page: 粤B00006 allowed, off deny
    assert control.plate_lists() == (["京AD00002", "粤B00006", "粤B00008"], ["京AD00002"])


def test_a_page_edit_landing_while_the_held_set_lists_is_merged_is_kept(setup):  # noqa: F811
    """The page's list edit runs on a web thread: landing between the held command's read of the running lists and
    its write, it was overwritten by lists merged without it (the reviewer told "listed", the plate gone, on the agent
    and in ``overrides.yaml``; review76). The read, the merge and the write are one step under the lists' lock
    (``AgentControl.lists_lock``), which the page's edit holds from its read to its write: it lands after."""
    make, backend, _control, clock = setup
    control, page, armed = RecordingControl(), [], threading.Event()
    read = control.plate_lists

    def page_edit() -> None:  # ``routes_violations.add_to_list``: 粤B00005 allowed, from the lists it finds
        with control.lists_lock():
            allow, deny = control.plate_lists()
            control.set_lists(sorted({*allow, "粤B00005"}), [p for p in deny if p != "粤B00005"])

    def plate_lists_then_the_page() -> tuple[list[str], list[str]]:
        lists = read()
        if armed.is_set() and not page:  # the apply's read: the web thread's edit comes right after it
            page.append(threading.Thread(target=page_edit))
            page[0].start()
            page[0].join(timeout=0.5)  # done at once when nothing holds the lock; else it waits for the write
        return lists

    control.plate_lists = plate_lists_then_the_page  # type: ignore[method-assign]
    link = make(ctl=control)
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"]},
                                    "backend/l")).json()["ok"]
    held = send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00002"], "deny": ["粤B00005"]}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the second held")
    armed.set()
    clock.advance(LISTS_EVERY_S)
    assert reply_with(backend, held).json()["ok"]
    wait_until(lambda: page and not page[0].is_alive(), what="the page's edit")
    # arrival order: the command (allow 京AD00002, deny 粤B00005), then the reviewer's allow of 粤B00005
    assert read() == (["京AD00002", "粤B00005"], [])


def test_a_plate_the_page_lists_again_while_a_held_set_lists_takes_it_off_stays_listed(setup):  # noqa: F811
    """The held command takes 粤B00009 off allow; the reviewer then allows it (the page shows it allowed still: the
    command waits). In arrival order the reviewer's word came last: allowed. The lists did not change with it (the
    plate was there already), so a merge of the lists alone kept the command's word (review76): the page's words
    since are applied too (``PlateLists.listed``). So for a plate moved away and back meanwhile."""
    make, backend, control, clock = setup
    link = make()
    assert reply_with(backend, send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001", "粤B00009"],
                                                          "deny": ["粤B00007"]}, "backend/l")).json()["ok"]
    held = send(backend, "set-lists", {"ts": now(clock), "allow": ["京AD00001"], "deny": []}, "backend/l")
    wait_until(lambda: len(link._held_lists) == 1, what="the second held")
    control.page_lists("粤B00009", "allow")  # there already: the lists unchanged
    control.page_lists("粤B00007", "allow")  # moved away and back: the lists as they were
    control.page_lists("粤B00007", "deny")
    clock.advance(LISTS_EVERY_S)
    assert reply_with(backend, held).json()["ok"]
    assert control.plate_lists() == (["京AD00001", "粤B00009"], ["粤B00007"])
