# The two set-up commands of the README. Both create the project's own virtual environment in .venv and install
# everything the project needs into it (the first time, pip builds llama-cpp-python: ~7 minutes on 2 cores).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-embedded
STAMP_TEST := $(VENV)/.installed-test
# llama-cpp-python is built from source here. A -march=native build picks AMX / AVX-512 kernels that die with a
# general protection fault on the Xeon VMs we run on (seen here); a portable AVX2 build works.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: run test lint typecheck install install-test browser clean-venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --progress-bar off -e '.[embedded]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --progress-bar off -e '.[embedded,test]'
	touch $@

install: $(STAMP_RUN)
install-test: $(STAMP_TEST)

# Debian's chromium for the Playwright browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The main job: ingest seeds/ and enrich them with the embedded offline model (no API key needed).
run: $(STAMP_RUN)
	$(BIN)/enrich run seeds/

# The whole test suite, including one test that runs the real embedded model and the browser tests.
test: $(STAMP_TEST) browser lint
	$(BIN)/python -m pytest -q

lint: $(STAMP_TEST) typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy sees the installed names (enrich.*) through symlinks: the editable install's import hook is invisible to it.
TYPECHECK := build/typecheck/enrich
$(TYPECHECK):
	mkdir -p $@ && for d in agent store schemas prompts; do ln -sfn ../../../$$d $@/$$d; done

# Every package, as configured in pyproject: strict on schemas/ and store/, the default checks elsewhere.
typecheck: $(STAMP_TEST) | $(TYPECHECK)
	$(BIN)/mypy

clean-venv:
	rm -rf $(VENV)
