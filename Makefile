# edge-agent: `make demo` runs the agent on a generated scenario; `make test` runs the tests.
# Both create the venv, install the project and fetch the models (and the CJK font) when missing;
# `make test` also installs the Debian packages the tests need (deploy/dev-deps.sh).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
AGENT := $(VENV)/bin/edge-agent
STAMP := $(VENV)/.installed
ASYNCAPI_TOOLS := tests/asyncapi/node_modules/.installed

.PHONY: all venv models dev-deps demo test test-extras test-paddle test-yolo bench lint clean asyncapi-tools train-occupancy occupancy-folds venv-paddle venv-yolo venv-train

all: test

# A venv works only in the folder it was made in: its scripts' #! lines and the editable install hold that
# absolute path. The stamp names the folder; in a checkout moved or renamed the venv is made again (--clear),
# where `.venv/bin/edge-agent` failed as "No such file or directory".
# A venv without the stamp is unfinished too (a set-up that failed or was interrupted: made from a Python pip
# then refused, every later `make demo` with the right one failed the same way): it is made anew as well.
# And a PYTHON named on the command line or in the environment that is another version than the venv's makes
# it anew from the one named (`PYTHON=python3.12 make demo` ran the 3.11 venv and said nothing).
VENV_MADE_IN := $(file <$(STAMP))
ifneq ($(filter command line environment,$(origin PYTHON)),)
PY_VERSION := $(shell $(PYTHON) -c 'import platform; print(platform.python_version())' 2>/dev/null)
VENV_VERSION := $(shell sed -n 's/^version *= *//p' $(VENV)/pyvenv.cfg 2>/dev/null)
endif
ifneq ($(VENV_MADE_IN)$(PY_VERSION),$(CURDIR)$(VENV_VERSION))
.PHONY: $(STAMP)
VENV_CLEAR = $(if $(wildcard $(VENV)),--clear)
endif

# The Python the venv is made from, said before it is used; one older than pyproject.toml's requires-python is
# refused in one line before any venv is made (pip's refusal came after, and left a venv of that Python).
PY_MIN := 3.10
comma := ,
PY_CHECK := import sys; v = sys.version_info; ok = v >= ($(subst .,$(comma) ,$(PY_MIN))); \
  (sys.stdout if ok else sys.stderr).write("make: %s Python %d.%d.%d (%s)%s\n" % ("using" if ok else "refusing", \
  v[0], v[1], v[2], sys.executable, "" if ok else ": edge-agent needs Python $(PY_MIN) or newer; name one with \
  PYTHON=/path/to/python3")); sys.exit(not ok)

# Debian's python3 lacks ensurepip until python3-venv is installed: installed here (root, else sudo), so
# `make demo` on a machine with only Python and make does not stop at its first line.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: no $(PYTHON) here: edge-agent needs Python $(PY_MIN) or newer; name one with PYTHON=/path/to/python3" >&2; exit 1; }
	@$(PYTHON) -c '$(PY_CHECK)'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || deploy/dev-deps.sh --venv
	$(PYTHON) -m venv $(VENV_CLEAR) $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	printf '%s\n' '$(subst ','\'',$(CURDIR))' > $(STAMP)

venv: $(STAMP)

models: $(STAMP)
	$(AGENT) models fetch

demo: models
	$(AGENT) demo

# The Debian packages the tests need (mosquitto, chromium, …), installed when missing; first and alone, so a
# machine without root or sudo stops in seconds with the exact apt-get line, before anything else, and no other
# job runs apt-get (the venv's python3-venv) or npm while it installs (`make -j2 test` ran all three at once:
# apt's lock refused one, npm was not there yet). A $(PYTHON) without ensurepip adds python3-venv to the same
# apt-get: on a bare Debian without root the line named the test packages only, and once they were installed
# the venv's step sent the user back for python3-venv.
dev-deps:
	deploy/dev-deps.sh $$($(PYTHON) -c 'import ensurepip' 2>/dev/null || echo --with-venv)

ifneq ($(filter test all,$(or $(MAKECMDGOALS),all)),)
$(STAMP): | dev-deps
endif

# Two pytest workers (pytest-xdist): CI's machine has two cores, and the suite waits on subprocesses, brokers and
# browsers as much as it computes (22 min in one process, 14 in two). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: dev-deps models $(ASYNCAPI_TOOLS)
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# ruff (errors, import order, bugbear) and mypy (strict on bays, locks, events); settings in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Medians and ratios, printed; nothing here is a pass/fail test.
bench: models
	$(AGENT) bench
	$(AGENT) occupancy bench
	$(PY) -m edge_agent.sim.bench
	$(PY) -m edge_agent.events.bench --events 2000
	$(PY) -m edge_agent.web.bench
	$(PY) -m edge_agent.stats.bench
	$(PY) -m edge_agent.sim.flood_bench
	$(PY) -m edge_agent.sim.shift_bench

# Optional extras, each in its own venv so the default install stays lean: .venv-paddle, .venv-yolo, .venv-train
# (`make venv-paddle` … makes one alone). Each is stamped as .venv is: made anew (--clear) when pyproject.toml
# changes (an extra's pins: a venv kept what it had, or test-paddle reinstalled at every run), in a checkout moved
# since, or from a PYTHON of another version; kept as it is otherwise.
EXTRAS := paddle yolo train
define extra_venv
$(VENV)-$(1)/.installed: pyproject.toml
	@command -v $$(PYTHON) >/dev/null || { echo "make: no $$(PYTHON) here: edge-agent needs Python $$(PY_MIN) or newer; name one with PYTHON=/path/to/python3" >&2; exit 1; }
	@$$(PYTHON) -c '$$(PY_CHECK)'
	@$$(PYTHON) -c 'import ensurepip' 2>/dev/null || deploy/dev-deps.sh --venv
	$$(PYTHON) -m venv $$(if $$(wildcard $(VENV)-$(1)),--clear )$(VENV)-$(1)
	$(VENV)-$(1)/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,$(1)]'
	printf '%s\n' '$$(subst ','\'',$$(CURDIR))' > $$@

venv-$(1): $(VENV)-$(1)/.installed

ifneq ($$(file <$(VENV)-$(1)/.installed)$$(PY_VERSION),$$(CURDIR)$$(if $$(PY_VERSION),$$(shell sed -n 's/^version *= *//p' $(VENV)-$(1)/pyvenv.cfg 2>/dev/null)))
.PHONY: $(VENV)-$(1)/.installed
endif
endef
$(foreach x,$(EXTRAS),$(eval $(call extra_venv,$(x))))

test-paddle: models $(VENV)-paddle/.installed
	deploy/dev-deps.sh --extras paddle
	$(VENV)-paddle/bin/edge-agent models fetch --group paddle
	$(VENV)-paddle/bin/python -m pytest -q -m paddle tests

test-yolo: models $(VENV)-yolo/.installed
	$(VENV)-yolo/bin/python -m pytest -q -m yolo tests

test-extras: test-paddle test-yolo

# The bay occupancy classifiers (models/occupancy.onnx and occupancy-site.onnx, committed): torch in its own venv, CPU only.
# Needs ../shared/datasets/bays-dev (BAYS_DEV=...); `make occupancy-folds` is the scene-held-out check.
BAYS_DEV ?= ../shared/datasets/bays-dev
train-occupancy: $(VENV)-train/.installed
	$(VENV)-train/bin/edge-agent models fetch --group train
	$(VENV)-train/bin/edge-agent occupancy train --data $(BAYS_DEV) --out models/occupancy.onnx --threads 1
	$(VENV)-train/bin/edge-agent occupancy train --data $(BAYS_DEV) --out models/occupancy-site.onnx --threads 1 \
		--backbone mobilenetv2
	$(VENV)-train/bin/python -m pytest -q tests/occupancy

occupancy-folds: $(VENV)-train/.installed
	$(VENV)-train/bin/edge-agent occupancy folds --data $(BAYS_DEV) --out-dir test-output/occupancy-folds --threads 1

clean:
	rm -rf $(VENV) $(VENV)-paddle $(VENV)-yolo $(VENV)-train test-output .pytest_cache

# The AsyncAPI parser (npm) that tests/events/test_asyncapi.py runs against docs/asyncapi.yaml; `make test`
# installs it when the lockfile is newer than the last install (node and npm come from dev-deps).
asyncapi-tools: $(ASYNCAPI_TOOLS)

$(ASYNCAPI_TOOLS): tests/asyncapi/package-lock.json | dev-deps
	cd tests/asyncapi && npm ci --silent --no-audit --no-fund
	touch $@
