"""The doctor's ``service sandbox`` row: the paths the config names, against the installed unit's sandbox.

Why: the doctor runs as the service user but outside the unit, so it saw the whole file system while the
service does not. ``ProtectSystem=strict`` leaves it only ``ReadWritePaths=`` (and its ``StateDirectory=``) to
write, ``ProtectHome=yes`` hides ``/home``, ``/root`` and ``/run/user``. A ``data_dir`` on a USB disk
(``/mnt/ssd/edge-agent``, to spare the SD card) passed the doctor's ``disk`` row, then the service refused to
start on a read-only file system at every restart; a CA file left in ``/home/pi`` passed the broker row and was
"not found" by the service. The row reads the unit as installed, with its drop-ins (what ``systemctl edit``
writes), so the fix it names is seen the next time.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from edge_agent.config.models import AgentConfig
from edge_agent.ops.checks import Check

UNIT = Path("/etc/systemd/system/edge-agent.service")
NAME = "service sandbox"
#: hidden by ProtectHome=yes / tmpfs (systemd.exec(5))
HOME_DIRS = ("/home", "/root", "/run/user")
#: read-only under ProtectSystem=yes / full (strict: everything but the API file systems and the paths allowed)
SYSTEM_DIRS = {"yes": ("/usr", "/boot", "/efi"), "full": ("/usr", "/boot", "/efi", "/etc")}


@dataclass
class Sandbox:
    protect_system: str = "no"
    protect_home: str = "no"
    private_tmp: bool = False
    read_write: list[str] = field(default_factory=list)  # ReadWritePaths=
    state_dirs: list[str] = field(default_factory=list)  # /var/lib/<StateDirectory=> (a reset of either is its own)
    working_dir: str | None = None
    mounts_required: list[str] = field(default_factory=list)  # [Unit] RequiresMountsFor=

    @property
    def writable(self) -> list[str]:
        return self.read_write + self.state_dirs

    @classmethod
    def read(cls, unit: Path) -> "Sandbox":
        """The unit file and its drop-ins (``<unit>.d/*.conf``, in name order), as systemd merges them: a later
        value wins, a list grows, an empty assignment empties it."""
        box = cls()
        for path in [unit, *sorted(Path(f"{unit}.d").glob("*.conf"))]:
            for key, value in _service_lines(path):
                if key == "ProtectSystem":
                    box.protect_system = {"true": "yes", "false": "no", "1": "yes", "0": "no"}.get(value, value)
                elif key == "ProtectHome":
                    box.protect_home = {"true": "yes", "false": "no", "1": "yes", "0": "no"}.get(value, value)
                elif key == "PrivateTmp":
                    box.private_tmp = value in ("yes", "true", "1", "on")
                elif key == "ReadWritePaths":
                    box.read_write = [] if not value else box.read_write + [p.lstrip("-+") for p in value.split()]
                elif key == "StateDirectory":
                    box.state_dirs = [] if not value else box.state_dirs + [f"/var/lib/{d.split(':')[0]}"
                                                                            for d in value.split()]
                elif key == "WorkingDirectory":
                    box.working_dir = value.lstrip("-") or None
            for key, value in _service_lines(path, "Unit"):
                if key == "RequiresMountsFor":
                    box.mounts_required = [] if not value else box.mounts_required + value.split()
        return box

    def waits_for(self, mount: str) -> bool:
        """Whether the unit starts only once ``mount`` is mounted (and stops when it goes): ``RequiresMountsFor=``
        a path on it or the mount point itself (systemd requires the mount units of each path's prefixes), or a
        path systemd requires them for of itself: ``WorkingDirectory=``, ``StateDirectory=``, ``/tmp`` and
        ``/var/tmp`` with ``PrivateTmp=`` (systemd.exec(5), implicit dependencies). Why: the shipped unit's
        ``/var/lib/edge-agent`` (its StateDirectory) failed the row on a device whose ``/var`` is a disk of its own,
        though systemd waits for it there (review90)."""
        implied = self.state_dirs + [d for d in [self.working_dir] if d and d.startswith("/")]
        implied += ["/tmp", "/var/tmp"] if self.private_tmp else []
        return any(_under(PurePosixPath(r), mount) for r in self.mounts_required + implied)

    def hidden(self, path: PurePosixPath) -> bool:
        return self.protect_home in ("yes", "tmpfs") and any(_under(path, d) for d in HOME_DIRS)

    def may_write(self, path: PurePosixPath) -> bool:
        allowed = any(_under(path, w) for w in self.writable)
        if any(_under(path, d) for d in HOME_DIRS) and self.protect_home != "no":
            return self.protect_home == "read-only" and allowed  # hidden (yes, tmpfs) whatever else is said
        if allowed:
            return True
        if self.protect_system == "strict":
            return self.private_tmp and (_under(path, "/tmp") or _under(path, "/var/tmp"))
        return not any(_under(path, d) for d in SYSTEM_DIRS.get(self.protect_system, ()))


def _service_lines(path: Path, want: str = "Service") -> Iterator[tuple[str, str]]:
    """The ``[Service]`` (or ``want``) assignments of a unit file in order, each as often as it is written
    (systemd.syntax(7)).

    Why not ``configparser``: it keeps one value per key, the last, where systemd takes every line in turn. A
    drop-in with two ``ReadWritePaths=`` lines (a data disk and a log disk) lost the first, and the row failed a
    ``data_dir`` the service may write; an empty assignment followed by a value (the reset idiom) was one value."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    section, pending = None, ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending and line.startswith(("#", ";")):  # a comment inside a continued value is skipped
            continue
        if line.endswith("\\"):  # continued on the next line, joined with a space
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == want and "=" in line:
            key, _, value = line.partition("=")
            yield key.strip(), value.strip()


def own_mount(path: PurePosixPath) -> str | None:
    """The mount point nearest above ``path`` (its nearest folder that exists), when it is not ``/``: ``path`` lies
    on a disk of its own. None where it lies on the root file system, or cannot be told."""
    here = Path(path)
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        while here != here.parent:
            if os.path.ismount(here):
                return str(here)
            here = here.parent
    except OSError:
        return None
    return None


def _under(path: PurePosixPath, root: str) -> bool:
    return path == PurePosixPath(root) or PurePosixPath(root) in path.parents


def _paths(value: Any, key: str = "") -> Iterator[tuple[str, PurePosixPath]]:
    """Every absolute path the config names (a file source, a CA, a secret file, a models folder), by its key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _paths(v, f"{key}[{i}]")
    elif isinstance(value, (str, Path)) and str(value).startswith("/") and "\n" not in str(value):
        last = key.rsplit(".", 1)[-1]
        if last.endswith(("_file", "_dir")) or not any(w in last for w in ("password", "secret", "token", "key")):
            yield key, PurePosixPath(str(value))  # never a secret's value, whatever it looks like


def written_paths(cfg: AgentConfig, working_dir: str | None) -> list[tuple[str, PurePosixPath]]:
    """What the service writes outside its data dir's own files: the data dir, and files configured elsewhere."""
    data = PurePosixPath(cfg.data_dir)
    if not data.is_absolute():
        data = PurePosixPath(working_dir or "/") / data  # the agent opens it as given, from the unit's folder
    out = [("data_dir", data)]
    if cfg.mqtt.outbox.path:
        out.append(("mqtt.outbox.path", PurePosixPath(str(cfg.mqtt.outbox.path)).parent))
    key = cfg.web.session_secret_file
    if key and not _holds_something(Path(key)):  # a key already there is only read (never written over)
        out.append(("web.session_secret_file", PurePosixPath(key).parent))
    return out


def _holds_something(path: Path) -> bool:
    """Whether ``path`` is a file with something in it. The agent writes its session key only where there is
    none (no file, or an empty one): a key the operator put in /etc/edge-agent is read-only to the service, and
    that is all it needs — the row failed it as "may not write there"."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def unit_for(cfg: AgentConfig, folder: Path | None = None) -> Path:
    """The installed unit whose ``ExecStart`` runs this config, else the shipped unit's path.

    Why: a device with two cameras runs a second agent from a copy of the unit (``edge-agent-cam2.service``,
    docs/deployment.md) with its own config and ``data_dir``; its doctor judged it against the first unit, whose
    sandbox does not hold the second ``data_dir``, and failed a service that ran fine."""
    folder = folder or UNIT.parent
    source = cfg._source_path
    if source is not None:
        for unit in sorted(folder.glob("edge-agent*.service")):
            if any(key == "ExecStart" and _runs_config(value, source) for key, value in _service_lines(unit)):
                return unit
    return folder / UNIT.name


def _runs_config(exec_start: str, config: Path) -> bool:
    try:
        words = shlex.split(exec_start.lstrip("@-:+!"))
    except ValueError:  # an unclosed quote: not this config's unit
        return False
    named = [b for a, b in zip(words, words[1:]) if a in ("--config", "-c")]
    named += [w.removeprefix("--config=") for w in words if w.startswith("--config=")]
    return any(os.path.abspath(n) == os.path.abspath(config) for n in named)


def check_sandbox(cfg: AgentConfig, unit: Path = UNIT) -> Check:
    if not unit.is_file():
        return Check(NAME, "skip", f"{unit} is not installed (not run by the shipped unit)")
    box = Sandbox.read(unit)
    problems = []
    for key, path in written_paths(cfg, box.working_dir):
        if not box.may_write(path):
            why = "ProtectHome=" + box.protect_home if box.hidden(path) else "ProtectSystem=" + box.protect_system
            problems.append(f"{key} {path}: the service may not write there ({why}; it may write "
                            f"{', '.join(box.writable) or 'nothing'}): `systemctl edit edge-agent`, add [Service] "
                            f"ReadWritePaths={path}")
        elif (mount := own_mount(path)) is not None and not box.waits_for(mount):
            # started while that disk is not mounted (a USB disk late or gone), the agent ran on the empty folder
            # under its mount point as on a new device: lock faults and maintenance forgotten, the arm under the
            # policy again, the waiting events never sent, none of it said (probe chaos40)
            problems.append(f"{key} {path}: on a disk of its own ({mount}) the service does not wait for: started "
                            "without it, the agent runs on the empty folder beneath (saved lock faults and "
                            "maintenance forgotten, waiting events never sent): `systemctl edit edge-agent`, add "
                            f"[Unit] RequiresMountsFor={path}")
    for key, path in _paths(cfg.model_dump(mode="python")):
        if box.hidden(path):
            problems.append(f"{key} {path}: hidden from the service (ProtectHome={box.protect_home}): "
                            "move it under /etc/edge-agent")
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check(NAME, "fail", "; ".join(problems[:3]) + more)
    return Check(NAME, "pass", f"every path the config names is open to {unit.name} "
                               f"(ProtectSystem={box.protect_system}, ProtectHome={box.protect_home})")
