# edgefleet developer tasks. `make demo` and `make test` work on a fresh machine
# with only Python 3.11, pip and apt: they build .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_DIR := protos/edgefleet/v1
PROTOS := $(wildcard $(PROTO_DIR)/*.proto)
PYTEST_ARGS ?=
# Extra arguments for the editable install (tests/integration/test_packaging.py passes --no-deps).
PIP_ARGS ?=
# Recent pip (26.3 here) re-prints the build backend's warnings, and setuptools emits one on every editable
# install whose packages live under mapped folders (package-dir, as here): an "Editable installation" notice
# (InformationOnly, not a deprecation). It is ignored by its exact text, for the install command only; every
# other warning still shows.
EDITABLE_NOTICE := ignore:Editable installation:UserWarning

.PHONY: help setup system-deps demo test test-fast bench lint fmt typecheck protos check-protos clean

help:
	@echo "make demo       set up and run the main job (the demo)"
	@echo "make test       set up and run every test (lint, types, protos check, unit, integration, e2e)"
	@echo "make test-fast  unit + integration only, skip slow suites"
	@echo "make bench      run the benchmarks (tests/benchmarks) and print ratios"
	@echo "make lint       ruff + mypy     make fmt   format the code"
	@echo "make protos     regenerate the gRPC code from $(PROTO_DIR)/*.proto"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="$(EDITABLE_NOTICE)" $(PY) -m pip install --quiet $(PIP_ARGS) -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

# Debian's prometheus/promtool (monitoring tests) and postgresql (the store contract suite starts its own
# server); the suites skip where they cannot be installed.
system-deps:
	@bash scripts/system-deps.sh


demo: $(STAMP)
	$(VENV)/bin/edgefleet demo

test: $(STAMP) system-deps
	$(MAKE) --no-print-directory lint check-protos
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS) tests/unit tests/integration tests/e2e

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS) tests/unit tests/integration

# nginx and curl: the static file server the artifact-transfer benchmark compares the origin and FetchArtifact
# with; postgresql: the replicas benchmark starts its own server, as the tests do.
bench: $(STAMP)
	@bash scripts/system-deps.sh nginx=nginx-light curl=curl initdb=postgresql
	$(PY) -m pytest -s -p no:xdist -m benchmark tests/benchmarks

lint: $(STAMP) .typing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(STAMP) .typing
	$(VENV)/bin/mypy

# mypy cannot follow setuptools' editable finder, so it reads the package as it imports through
# directory symlinks (edgefleet/agent -> agent/, ...): the same files, under their import names.
.typing: pyproject.toml
	@rm -rf .typing && mkdir -p .typing/edgefleet
	@ln -s ../../protos/edgefleet/__init__.py ../../protos/edgefleet/py.typed ../../protos/edgefleet/v1 .typing/edgefleet/
	@ln -s ../../core .typing/edgefleet/core
	@ln -s ../../agent .typing/edgefleet/agent
	@ln -s ../../orchestrator .typing/edgefleet/orchestrator

# -I protos: the proto path is the import path (edgefleet/v1/x.proto -> edgefleet.v1.x_pb2).
protos: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m grpc_tools.protoc -I protos \
	  --python_out=protos --grpc_python_out=protos \
	  --mypy_out=protos --mypy_grpc_out=async_only:protos \
	  $(PROTOS)

check-protos: protos
	@git diff --exit-code -- $(PROTO_DIR) || { echo "generated protobuf code is stale: run 'make protos' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- $(PROTO_DIR) | grep '^??')" || { echo "generated protobuf files are not committed:"; git status --porcelain -- $(PROTO_DIR); exit 1; }

clean:
	rm -rf $(VENV) .typing .pytest_cache .mypy_cache .ruff_cache build *.egg-info
