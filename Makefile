# Two commands do everything on a fresh machine:
#   make replicate   create .venv, install spillover, run the default study into results/ (and the example)
#   make test        create .venv, install spillover with test extras, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: replicate test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dist]"
	touch $(STAMP)

replicate: $(STAMP)
	$(BIN)/spillover replicate models/
	$(BIN)/spillover replicate models/examples/us_income --out results/examples/us_income

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/report.py

clean-venv:
	rm -rf $(VENV)
