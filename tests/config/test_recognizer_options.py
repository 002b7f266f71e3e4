"""``perception.recognizer_options`` is checked at load against what each backend's factory takes.

The config package sits below ``perception`` in the import order, so it keeps its own table
(``config/perception.py:RECOGNIZER_OPTIONS``); this test keeps the table and the factories in step.
"""

from __future__ import annotations

import inspect

import pytest

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.perception import RECOGNIZER_OPTIONS


def test_the_options_table_matches_every_backend_factory():
    import edge_agent.perception.paddle_backend  # noqa: F401 - registers paddleocr (paddle itself loads lazily)
    from edge_agent.perception import recognizer

    assert set(RECOGNIZER_OPTIONS) == set(recognizer.recognizer_keys())
    for key, model in RECOGNIZER_OPTIONS.items():
        params = list(inspect.signature(recognizer._REGISTRY[key]).parameters)[2:]  # after models_dir, sessions
        assert list(model.model_fields) == params, key


GOOD = {"site": {"site_id": "s1", "device_id": "d1"}, "camera": {"source": "0"},
        "bays": [{"id": "A", "polygon": [[0, 0], [100, 0], [100, 100]]}]}


@pytest.mark.parametrize(("perception", "expected"), [
    ({"recognizer_options": {"foo": 1}},
     "perception.recognizer_options.foo: not an option of recognizer ppocr_v4 (it takes width, pad_to, vocab)"),
    ({"recognizer": "clp_crnn", "recognizer_options": {"pad_to": 320}},
     "perception.recognizer_options.pad_to: not an option of recognizer clp_crnn (it takes width, vocab)"),
    ({"recognizer_options": {"width": 100000}},
     "perception.recognizer_options.width: Input should be less than or equal to 1024"),
    ({"recognizer": "paddleocr", "recognizer_options": {"model": "../../etc"}},
     "perception.recognizer_options.model: String should match pattern"),
])
def test_an_option_the_backend_would_refuse_at_run_is_a_config_error(perception, expected):
    with pytest.raises(ConfigError) as exc:
        parse_config({**GOOD, "perception": perception})
    assert any(p.startswith(expected) for p in exc.value.problems), exc.value.problems


def test_options_the_backend_takes_pass():
    cfg = parse_config({**GOOD, "perception": {"recognizer_options": {"pad_to": 320, "width": 200}}})
    assert cfg.perception.recognizer_options == {"pad_to": 320, "width": 200}
