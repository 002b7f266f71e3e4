"""Fuzz: ``check-config`` on the shipped examples with values replaced by wrong types, non-finite and huge numbers,
odd text, YAML tags, alias bombs, nesting, repeated keys and broken bytes. Whatever the file, the command says ok
(and then holds no NaN / infinity anywhere) or exits 2 with a report whose every line names a key — never a
traceback, another exit code, or a hang.

Locally run longer with ``FUZZ_EXAMPLES=4000`` (4,000 examples: one finding, fixed below)."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings

from edge_agent import cli
from edge_agent.config.load import load_config
from tests.config.fuzzyaml import documents, names_a_key, non_finite, overrides_documents, problem_lines

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "80"))
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "config"
DOC = """site: {{site_id: s, device_id: d}}
camera: {{source: '0', fps: {value}}}
bays: [{{id: A, polygon: [[0, 0], [10, 0], [10, 10]]}}]
"""


def check_config(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = cli.main(["check-config", str(path)])
    return rc, err.getvalue()


def assert_sound(path: Path) -> None:
    rc, err = check_config(path)
    assert "Traceback" not in err, err
    if rc == 0:
        found = non_finite(load_config(path))
        assert found is None, f"a non-finite number accepted at {found}"
        return
    assert rc == 2, (rc, err)
    report = err[err.index("invalid config") - 1:] if "invalid config" in err else ""
    assert report, err
    unnamed = [line for line in problem_lines(report) if not names_a_key(line)]
    assert not unnamed, report


# Each was a Python error from PyYAML's constructor (ValueError, KeyError, IndexError, AttributeError): a traceback
# from check-config, run and a reload. A date that does not exist is an easy typo; the tags a paste from elsewhere.
@pytest.mark.parametrize("value", ["2026-02-30", "2001-13-45", "2026-01-01 25:00:00", "2026-01-01T00:00:00+99:00",
                                   "0x_", "0b_", "!!float abc", "!!int abc", "!!int ''", "!!float ''",
                                   "!!bool maybe", "!!timestamp x", "!!int 0x", "!!int 1:x"])
def test_a_value_yaml_cannot_build_is_one_line_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(DOC.format(value=value), encoding="utf-8")
    rc, err = check_config(path)
    assert rc == 2, err
    assert "camera.fps: " in err and "is read by YAML 1.1 as" in err and "Traceback" not in err, err


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 80,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(doc=documents(Path("/nonexistent-fuzz-data")))
@example(doc=DOC.format(value="2026-02-30").encode())
@example(doc=DOC.format(value="!!bool maybe").encode())
def test_check_config_says_ok_or_names_a_key(doc: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # a relative path in the doc is read beside it: nothing there
        path = Path(tmp) / "config.yaml"
        path.write_bytes(doc)
        assert_sound(path)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 80,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(over=overrides_documents())
@example(over=b'"ok\\n  bays[0].polygon: forged": 1\n')  # fuzz: a key echoed whole wrote a line of its own
def test_check_config_with_any_overrides_file_says_ok_or_names_a_key(over: bytes) -> None:
    """The installer page's and set-lists' file, as a hand edit or a damaged write may leave it."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        config = yaml.safe_load((EXAMPLES_DIR / "rpi5-two-bays.yaml").read_text(encoding="utf-8"))
        config["data_dir"] = str(data)
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        (data / "overrides.yaml").write_bytes(over)
        assert_sound(path)
