"""The Jetson container recipe stays true to the tree: every COPY source exists and survives the ignore file.

No Docker daemon (or Jetson) is available here, so the image itself is not built by the tests.
"""

from __future__ import annotations

import fnmatch
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JETSON = REPO / "deploy" / "jetson"


def _copy_sources() -> list[str]:
    out = []
    for line in (JETSON / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            args = [a for a in shlex.split(line)[1:] if not a.startswith("--")]
            out += args[:-1]
    return out


def _included(path: str, rules: list[str]) -> bool:
    keep = True
    for rule in rules:
        negate = rule.startswith("!")
        pat = rule[1:] if negate else rule
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
            keep = negate
    return keep


def test_copy_sources_exist_and_are_not_ignored():
    rules = [ln.strip() for ln in (JETSON / "Dockerfile.dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    sources = _copy_sources()
    assert {"pyproject.toml", "edge_agent", "models/manifest.json"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), src
        assert _included(src, rules), f"{src} is excluded by Dockerfile.dockerignore"
    assert not _included(".venv/bin/python", rules) and not _included("models/clp_det.onnx", rules)


def test_image_uses_the_same_layout_and_command_as_the_pi():
    text = (JETSON / "Dockerfile").read_text()
    unit = (REPO / "deploy" / "edge-agent.service").read_text()
    assert 'CMD ["run", "--quiet", "--config", "/etc/edge-agent/config.yaml"]' in text
    assert "run --quiet --config /etc/edge-agent/config.yaml" in unit
    assert "/opt/edge-agent/models" in text and ".[jetson]" in text and "STOPSIGNAL SIGTERM" in text


def test_image_holds_every_committed_model():
    """The occupancy models ship in the source tree, not in a wheel: the image must copy them (it did not)."""
    from tests.ops.test_install_script import shipped_models

    sources = _copy_sources()
    for name in shipped_models():
        assert f"models/{name}" in sources, f"the Dockerfile does not COPY models/{name}"


def test_the_jetson_example_serves_what_the_images_healthcheck_reads():
    """The image's HEALTHCHECK reads http://127.0.0.1:9108/metrics; the Jetson example left ops.metrics off, so a
    container run on it as the README says was "unhealthy" for as long as it ran."""
    import re

    from edge_agent.config import load_config

    text = (JETSON / "Dockerfile").read_text()
    check = text[text.index("HEALTHCHECK"):].split("\n\n", 1)[0]
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/metrics", check).group(1))
    metrics = load_config(REPO / "config" / "jetson.yaml").ops.metrics
    assert metrics.enabled and metrics.port == port
    assert metrics.host in ("0.0.0.0", "127.0.0.1", "")  # reachable from inside the container
    readme = (JETSON / "README.md").read_text()
    assert f"-p 127.0.0.1:{port}:{port}" in readme  # published on the host's loopback only
