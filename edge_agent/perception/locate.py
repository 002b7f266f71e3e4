"""Where the model files are when the config does not say (``perception.models_dir`` unset).

Why: a config written anywhere (a test's temp folder, /etc/edge-agent, a laptop's home) must
find the models ``edge-agent models fetch`` installed, instead of a ``models`` folder relative to
wherever the agent happened to be started. The first candidate holding ``manifest.json`` wins:
the source checkout's ``models/`` (a git clone or an editable install), the install layout of
``deploy/install.sh`` (``/opt/edge-agent/venv`` → ``/opt/edge-agent/models``), then the data
folder's ``models/``. A relative ``models_dir`` keeps its rule: the working directory when it
exists there, else the config file's folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MANIFEST = "manifest.json"
CHECKOUT_MODELS = Path(__file__).resolve().parents[2] / "models"


def _installed() -> list[Path]:
    """The checkout's ``models/``, then the install layout's (``/opt/edge-agent/venv`` → ``/opt/edge-agent/models``)."""
    return [CHECKOUT_MODELS, Path(sys.prefix).resolve().parent / "models"]


def _first_holding_manifest(found: list[Path]) -> Path:
    return next((p for p in found if (p / MANIFEST).is_file()), found[0])


def candidates(data_dir: str | Path) -> list[Path]:
    """Folders searched when ``models_dir`` is unset, in order."""
    return list(dict.fromkeys([*_installed(), Path(data_dir).resolve() / "models"]))


def default_models_dir() -> Path:
    """The folder ``models fetch`` / ``verify`` / ``quantize`` and ``recognize`` use without ``--dir`` or a config:
    the checkout's ``models/``, else the install layout's (``/opt/edge-agent/models``) — whichever holds
    ``manifest.json``, as ``run`` finds it. Why: in ``install.sh``'s venv the checkout's folder is
    ``site-packages/models``, which does not exist, so `run`'s own advice for a missing model ("run `edge-agent
    models fetch`") failed there (exit 2, "is …/site-packages/models a models folder?")."""
    return _first_holding_manifest(_installed())


def resolve_models_dir(models_dir: str | None, data_dir: str | Path, config_path: Path | None = None) -> Path:
    """The folder the agent loads models from (it may not exist: loading then names it)."""
    if models_dir is None:
        return _first_holding_manifest(candidates(data_dir))
    p = Path(models_dir)
    # os.path.exists: in a working directory this user may not search (`sudo -u edge-agent` from a 0700
    # home) the folder is not there; Path.exists raised PermissionError, and `run` said "Permission denied".
    if p.is_absolute() or config_path is None or os.path.exists(p):
        return p.resolve()
    return config_path.parent / p
