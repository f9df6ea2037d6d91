# priorworks — `make help` lists the targets. Every target creates .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TORCH_VERSION := 2.13.0
MLFLOW_PORT ?= 5000
PYTEST_ARGS ?=
# make test's pytest workers (pytest-xdist), each with one torch/OpenMP thread: on two cores
# two single-threaded workers finish sooner than one two-threaded process
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing torch $(TORCH_VERSION) (CPU) and priorworks into $(VENV) ..."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

.PHONY: help install spark anomaly-detect anomaly-pneumonia anomaly-medical augment colorize transfer share schedule serve model-index models-measure anomaly-bench bench bench-quick test test-slow lint format tracking-server tracking-server-stop mlflow-ui clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install priorworks (torch CPU first)

SPARK_STAMP := $(VENV)/.spark-stamp
$(SPARK_STAMP): $(STAMP)
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Java 17 (Debian's openjdk-17-jre-headless) for Spark ..."; \
			apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; \
		else \
			echo "Spark needs Java 17 or newer: apt-get install openjdk-17-jre-headless (as root)"; \
			exit 2; \
		fi; \
	fi
	@echo "installing pyspark (priorworks[spark]) into $(VENV) ..."
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	@touch $(SPARK_STAMP)

spark: $(SPARK_STAMP) ## install pyspark and check Java 17+, for `priorworks score --engine spark`

anomaly-detect: $(STAMP) ## train a flow on digits, detect anomalies, log to MLflow (ARGS="--set k=v")
	$(VENV)/bin/priorworks run anomaly-detect $(ARGS)

anomaly-pneumonia: $(STAMP) ## the same on PneumoniaMNIST from ../shared/data (normal X-rays vs pneumonia)
	$(VENV)/bin/priorworks run anomaly-pneumonia $(ARGS)

anomaly-medical: $(STAMP) ## the one recipe for unseen data, on RetinaMNIST from ../shared/data (ARGS to point it at yours)
	$(VENV)/bin/priorworks run anomaly-medical $(ARGS)

augment: $(STAMP) ## data augmentation with generated digits: every arm, k in {10, 50}, 3 seeds
	$(VENV)/bin/priorworks run augment $(ARGS)

colorize: $(STAMP) ## Bayesian colorization of gray photo patches with a flow prior, every arm, one table
	$(VENV)/bin/priorworks run colorize $(ARGS)

transfer: $(STAMP) ## teach RBF kernel students with teacher-labelled generated digits, every arm, one table
	$(VENV)/bin/priorworks run transfer $(ARGS)

share: $(STAMP) ## synthetic digits instead of the real ones: audit, gate, versioned release bundle
	$(VENV)/bin/priorworks run share $(ARGS)

schedule: $(STAMP) ## run the pipelines of schedules.yaml on their cron times (SCHEDULES=file)
	$(VENV)/bin/priorworks schedule --file $(or $(SCHEDULES),schedules.yaml) $(ARGS)

SERVE_PORT ?= 5001
SERVER_PORT ?= 5002
serve: $(STAMP) ## serve a logged anomaly model over REST (MODEL=models:/<name>@champion or runs:/<id>/model)
	@test -n "$(MODEL)" || { echo "make serve: set MODEL, e.g. MODEL=models:/digit-detector@champion"; exit 2; }
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow/mlflow.db} PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
		$(VENV)/bin/mlflow models serve -m "$(MODEL)" --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

model-index: $(STAMP) ## rewrite genmodels/model_index.json (what `priorworks models` lists) from the registry
	$(PY) -m genmodels.model_index

models-measure: $(STAMP) ## train and measure every zoo model on USPS (ARGS="--epochs 3")
	$(PY) -m benchmarks.zoo $(ARGS)

anomaly-bench: $(STAMP) ## the anomaly-medical recipe on PneumoniaMNIST, RetinaMNIST, USPS and digits; updates benchmarks/results/anomaly.md (~80 min with every model trained anew)
	$(PY) benchmarks/anomaly_bench.py --spec anomaly-medical --datasets pneumoniamnist retinamnist usps digits --out anomaly-bench-medical --update-results $(ARGS)

bench: $(STAMP) $(SPARK_STAMP) ## speed suite: overhead, scoring, scaling, sampling, end to end (~40 min; ARGS="--only ...")
	$(PY) -m benchmarks.speed $(ARGS)

bench-quick: $(STAMP) $(SPARK_STAMP) ## the speed suite shrunk to check itself (minutes; numbers not reported)
	$(PY) -m benchmarks.speed --quick $(ARGS)

test: $(STAMP) ## run the test suite (fast tests; < 10 min on 2 cores)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -m "not slow" \
		-n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-slow: $(STAMP) $(SPARK_STAMP) ## run the slow checks (real data sets, longer training, faults, 20x the fuzz cases)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)
	PRIORWORKS_FUZZ=thorough $(PY) -m pytest -q tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check), mypy, import-linter layer contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

tracking-server: $(STAMP) ## MLflow tracking server on PostgreSQL in mlflow/server (127.0.0.1:$(SERVER_PORT))
	$(PY) -m pipelines.ops.tracking_server start --root mlflow/server --port $(SERVER_PORT)

tracking-server-stop: $(STAMP) ## stop the tracking server and its PostgreSQL
	$(PY) -m pipelines.ops.tracking_server stop --root mlflow/server

mlflow-ui: $(STAMP) ## serve the MLflow UI on 127.0.0.1:$(MLFLOW_PORT) over ./mlflow
	@mkdir -p mlflow/artifacts
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db \
		--default-artifact-root ./mlflow/artifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

clean: ## remove caches (keeps .venv and the MLflow store)
	rm -rf .pytest_cache .mypy_cache .ruff_cache lightning_logs
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
