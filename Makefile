# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-output

.PHONY: venv sysdeps test lint demo bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch 2.13.0 is a CPU build on local disk here; an unpinned torch pulls a CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	# This project was the distribution `deidkit` before; `deidkit` and `auditkit` on PyPI are
	# unrelated projects whose packages would shadow ours: none of them stays beside it.
	$(BIN)/pip uninstall --quiet --yes deidkit auditkit 2>/dev/null || true
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[all,dev]'
	# pip byte-compiles what it installs, but not an editable project's own modules, which
	# are then compiled again at every start when PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q deidkit auditkit >/dev/null
	touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh

lint: venv
	$(BIN)/ruff check deidkit auditkit tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv sysdeps lint
	$(BIN)/python -m pytest -n 2 -q

demo: venv
	$(BIN)/deidkit demo $(DEMO_DIR)/deid
	$(BIN)/auditkit demo $(DEMO_DIR)/audit --size small --device auto
	@echo
	@echo "Results are under $(DEMO_DIR)/:"
	@echo "  de-identification: $(DEMO_DIR)/deid/release-report.html (verification), $(DEMO_DIR)/deid/release/"
	@echo "  defacing QC:       $(DEMO_DIR)/deid/heads/qc/*.png"
	@echo "  audit reports:     $(DEMO_DIR)/audit/biased/report.html, $(DEMO_DIR)/audit/balanced/report.html"

# Side-by-side benchmarks against the anchors (not tests; see bench/). gdcmanon comes from
# Debian's libgdcm-tools, installed here when missing and possible.
bench: venv
	$(BIN)/python -m compileall -q deidkit auditkit >/dev/null
	-command -v gdcmanon >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq libgdcm-tools >/dev/null; }
	$(BIN)/python bench/scrub.py --files 1000 --repeats 2
	$(BIN)/python bench/verify.py --workers 2 --repeat 3
	$(BIN)/python bench/conformance.py
	$(BIN)/python bench/deface.py --mm 1.0
	$(BIN)/python bench/evaluate.py --rows 100000 --fairlearn-boot 20

# Headless-Chromium screenshots of the HTML reports (release report and audit report).
screenshots: venv sysdeps
	$(BIN)/deidkit demo $(DEMO_DIR)/deid >/dev/null
	bash bench/screenshot_report.sh $(DEMO_DIR)/deid/release-report.html $(DEMO_DIR)/deid/release-report.png
	bash bench/screenshot_audit_report.sh

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
