# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make book   install, then build the HTML book (clean build, warnings are errors)
#   make test   install, then run the unit tests and every notebook under nbval (quick mode)
# The virtual environment is made once and reused; it is refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lpr-installed
JOBS   ?= 2

.PHONY: book check-book test lint unit notebooks install clean help bench

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   ruff, unit tests, nbval on every notebook (LPR_QUICK=1)"
	@echo "make check-book   build the book, open every page in headless Chromium"
	@echo "make bench  speed, size and formats into results/bench/ (~15-20 min on 2 quiet cores;"
	@echo "            LPR_QUICK=1 make bench: the same code in a few minutes, to check it)"

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test,onnx]"
	touch $(STAMP)

test: lint unit notebooks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tools/lint_chapters.py

unit: $(STAMP)
	LPR_QUICK=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile -m "not slow" tests

# the tests marked slow (training runs, every kill point, huge images): CI runs them (.ci/run)
slow: $(STAMP)
	LPR_QUICK=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile -m slow tests; \
	status=$$?; [ $$status = 0 ] || [ $$status = 5 ]  # 5: no test is marked slow

# every chapter as a notebook (jupytext) in build/ (beside book/: the chapters' relative
# paths hold), the cells tagged nbval-check-output carrying the outputs recorded from results/
# (book/outputs/); nbval runs each in quick mode and compares those cells' outputs
notebooks: $(STAMP)
	rm -f build/[0-9][0-9]_*.ipynb
	$(BIN)/python tools/chapter_notebooks.py build build
	LPR_QUICK=1 $(BIN)/python -m pytest --nbval-lax --sanitize-with .nbval_sanitize.cfg \
		-p no:randomly build/

# The chapters are executed by the build (Jupyter Book's cache, _build/.jupyter_cache); the
# cache is dropped when results/, the library, configs or the data samples changed since it
# was made, so that the book always shows what results/ holds.
CACHE := _build/.jupyter_cache

book: $(STAMP)
	$(BIN)/python tools/check_notebooks.py book
	@if [ ! -f $(CACHE)/.made ] || [ -n "$$(find results lpr_lib configs data_samples -type f \
		! -name '*.pyc' -newer $(CACHE)/.made -print -quit)" ]; then rm -rf $(CACHE); fi
	rm -rf _build/html _build/jupyter_execute _build/.doctrees _mathjax
	$(BIN)/python tools/local_mathjax.py _mathjax
	$(BIN)/jupyter-book build . --builder html --warningiserror --nitpick --keep-going
	$(BIN)/python tools/check_notebooks.py _build/jupyter_execute
	touch $(CACHE)/.made

check-book: book
	$(BIN)/python tools/check_rendered_book.py _build/html --screenshots _build/screenshots

# latency per model and format, accuracy of the exports, training and generator throughput,
# the machine's peak: results/bench/*.json (bench/__init__.py says what each file holds)
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf _build _mathjax .pytest_cache
