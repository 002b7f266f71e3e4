"""Call something that must not wait on a FIFO planted in the data folder, failing (not hanging) where it does."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
BOUND_S = 10.0  # only a read that waits for a writer comes near it: a call that does not wait returns at once


def without_waiting(call: Callable[[], T], fifo: Path) -> T:
    """``call()``'s result; a test failure, not a hung test, where it waits for a writer at ``fifo``: after
    ``BOUND_S`` a writer opens and closes it, the read sees its end, and the thread ends."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    if worker.is_alive():
        while worker.is_alive():  # the writer it waits for; its close is the end of file the read waits for
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: the reader is not in its open yet
                pass
            worker.join(0.5)
        pytest.fail(f"waited for a writer at the FIFO {fifo}")
    if errors:
        raise errors[0]
    return out[0]
