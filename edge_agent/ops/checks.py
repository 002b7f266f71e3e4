"""The doctor's row type and the helpers every check shares."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

if TYPE_CHECKING:
    from edge_agent.config.models import AgentConfig

Status = Literal["pass", "warn", "fail", "skip"]  # warn: works today, needs a hand soon (exit 0)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def resolve_path(cfg: "AgentConfig", value: str) -> Path:
    """The runtime's rule (``runtime.models.default_reader``): relative to the working directory when that
    exists, else to the config file's folder — so the doctor checks the files the agent will load."""
    p = Path(value)
    if p.is_absolute() or cfg.source_path is None or os.path.exists(p):  # as locate.resolve_models_dir
        return p.resolve()
    return cfg.source_path.parent / p


def with_timeout(fn: Callable[[], Check], timeout_s: float, name: str, what: str) -> Check:
    """Run a check that may block in C code (OpenCV, sockets) on a daemon thread; give up after ``timeout_s``."""
    box: list[Check] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as exc:  # a check's crash is that check's failure
            box.append(Check(name, "fail", f"{type(exc).__name__}: {exc}"))

    t = threading.Thread(target=target, name=f"doctor:{name}", daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else Check(name, "fail", f"{what}: no answer within {timeout_s:g} s")

