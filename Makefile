# The few things people do with streamrec. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve train sample test bench bench-scale lint clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-spark.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Make sample data and a model if missing, then serve on settings.host:settings.port.
serve: install
	$(PY) -m streamrec.quickstart
	$(PY) platform.py

## Retrain from settings.data_path into settings.model_path.
train: install
	$(PY) als_fit.py

## Write a small Twitch-like sample to settings.data_path if it has no file.
sample: install
	$(PY) -m streamrec.quickstart --no-train

test: install
	$(PY) -m pytest

## Serving benchmark (bench/serve.py; the first run generates data and trains, ~2 min) and any
## other default benchmark; `python -m bench --list` shows them. BLAS uses its native kernel here.
bench: install
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) -m bench

## Full-size training on one machine (generates ~5 GB of sample data on first run; not in CI).
bench-scale: install
	$(PY) -m bench.scale --preset twitch-full

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
