# edge-agent: `make demo` runs the agent on a generated scenario; `make test` runs the tests.
# Both create the venv, install the project and fetch the models when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
AGENT := $(VENV)/bin/edge-agent
STAMP := $(VENV)/.installed

.PHONY: all venv models demo test test-extras test-paddle bench lint clean asyncapi-tools

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

models: $(STAMP)
	$(AGENT) models fetch

demo: models
	$(AGENT) demo

test: models
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Medians and ratios, printed; nothing here is a pass/fail test.
bench: models
	$(AGENT) bench
	$(PY) -m edge_agent.runtime.bench
	$(PY) -m edge_agent.events.bench --events 2000
	$(PY) -m edge_agent.web.bench
	$(PY) -m edge_agent.stats.bench
	$(PY) -m edge_agent.runtime.flood_bench

# Optional extras, each in its own venv so the default install stays lean.
test-paddle: models
	$(PYTHON) -m venv $(VENV)-paddle
	$(VENV)-paddle/bin/pip install -q --disable-pip-version-check -e '.[dev,paddle]'
	$(VENV)-paddle/bin/edge-agent models fetch --group paddle
	$(VENV)-paddle/bin/python -m pytest -q -m paddle tests

test-yolo: models
	$(PYTHON) -m venv $(VENV)-yolo
	$(VENV)-yolo/bin/pip install -q --disable-pip-version-check -e '.[dev,yolo]'
	$(VENV)-yolo/bin/python -m pytest -q -m yolo tests

test-extras: test-paddle test-yolo

clean:
	rm -rf $(VENV) $(VENV)-paddle $(VENV)-yolo test-output .pytest_cache

# The AsyncAPI parser (npm) that tests/events/test_asyncapi.py runs against docs/asyncapi.yaml.
asyncapi-tools:
	cd tests/asyncapi && npm ci --silent --no-audit --no-fund
