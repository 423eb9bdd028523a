# Layer Normalization, the interactive book.
#   make book    build the website into _build/html (creates .venv, installs, executes every notebook)
#   make test    everything CI checks: unit tests, build, notebook execution, browser, links
#   make serve   serve the built website on http://127.0.0.1:8000
#   make lab     JupyterLab on the student notebooks (EDITION=instructor: with solutions)
#   make student the student edition: notebooks without solutions and a site without them, in _build/student
#   make publish the publication build (refuses a placeholder repository URL) and the notebooks branches' trees
#   make bench   time layer norm and the LN-LSTM; report in _build/reports/bench.md (.json)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUILD  := _build
HTML   := $(BUILD)/html
CACHE  := $(BUILD)/.jupyter_cache
PORT   ?= 8000
# pytest workers for `make test` (pytest-xdist): the browser tests dominate and run two pages at a time on 2 cores
TEST_WORKERS ?= 2
JB_FLAGS := --all -W -n --keep-going
# chapters executed at once before the website build (book/execute_chapters.py); those that time code run alone
BOOK_JOBS ?= 2
LAB_OVERRIDES := binder/jupyterlab-overrides.json

.PHONY: help install assets book student publish serve lab lab-sources test test-unit test-site browser-deps strip clean bench

help:
	@sed -n '2,8p' Makefile | sed 's/^# //'

# --- environment -----------------------------------------------------------
$(STAMP): requirements.txt pyproject.toml $(LAB_OVERRIDES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@# JupyterLab for a classroom without a network: no news pop-up, no update check.
	install -D -m 644 $(LAB_OVERRIDES) $(VENV)/share/jupyter/lab/settings/overrides.d/lnbook-offline.json
	@touch $@

install: $(STAMP)

# Pinned JavaScript for the offline website (package-lock.json); skipped with a warning without npm.
node_modules/.package-lock.json: package-lock.json package.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo -e "\033[1;33mWARNING: npm not found: the website will load its JavaScript from CDNs and will not work offline.\033[0m"; fi

assets: node_modules/.package-lock.json

# --- the book --------------------------------------------------------------
book: $(STAMP) assets
	@mkdir -p $(BUILD)
	@# Executed notebooks are cached by their code; a change to the helpers, the pins,
	@# the budget or the visible GPUs invalidates them all. Every file under src counts (the C kernels,
	@# the shipped data) except Python's bytecode and pip's egg-info. Figures are drawn with their phone
	@# and dark variants (LNBOOK_FIGURE_VARIANTS=1: helpers/figure_variants.py, book/_ext/figure_variants.py).
	@h=$$( (echo "budget=$${LNBOOK_BUDGET:-} gpus=$${CUDA_VISIBLE_DEVICES-all}"; cat requirements.txt $$(find src -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' | sort)) | sha256sum | cut -c1-16); \
	if [ "$$(cat $(BUILD)/.helpers-hash 2>/dev/null)" != "$$h" ]; then rm -rf $(CACHE); echo "$$h" > $(BUILD)/.helpers-hash; fi
	@start=$$(date +%s); \
	export LNBOOK_BOOK_JOBS=$(BOOK_JOBS) LNBOOK_FIGURE_VARIANTS=1; \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python book/execute_chapters.py --jobs $(BOOK_JOBS); \
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter-book build . $(JB_FLAGS); \
	echo "Built in $$(( $$(date +%s) - start )) s. Open $(CURDIR)/$(HTML)/index.html, or run: make serve"

# The student edition, from the same sources: solutions removed, fill-in exercises stubbed
# (book/_ext/reader_notebooks.py). It reuses the executions `make book` cached (their
# outputs, less those of the instructor's fill-in solutions), so nothing runs twice.
# Site: _build/student/_build/html; reader notebooks: _build/student/_build/notebooks/student.
STUDENT := $(BUILD)/student
student: $(STAMP) assets
	@test -d $(CACHE) || $(MAKE) book
	@rm -rf $(STUDENT) && mkdir -p $(STUDENT)
	@git ls-files -z --cached --others --exclude-standard | grep -zv '^chapters/' | \
	  xargs -0 -I{} cp --parents {} $(STUDENT)/
	@ln -s $(CURDIR)/node_modules $(STUDENT)/node_modules
	$(BIN)/python book/_ext/reader_notebooks.py student-sources chapters $(STUDENT)/chapters --cache $(CACHE)
	@sed -i 's/^  execute_notebooks: cache$$/  execute_notebooks: "off"/' $(STUDENT)/_config.yml
	@grep -q 'execute_notebooks: "off"' $(STUDENT)/_config.yml
	cd $(STUDENT) && LNBOOK_EDITION=student PATH="$(CURDIR)/$(BIN):$$PATH" $(CURDIR)/$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Student site: $(STUDENT)/_build/html/index.html; notebooks: $(STUDENT)/_build/notebooks/student"

# What gets published: the site, built with the real repository URL (the build refuses the
# placeholder), and in _build/publish the tree for the notebooks branch: the repository with
# the reader notebooks in place of the sources, so that Colab, Binder and JupyterHub open them.
publish: $(STAMP)
	@$(BIN)/python book/_ext/reader_notebooks.py check-publish _config.yml  # one line, before any build
	LNBOOK_PUBLISH=1 $(MAKE) book
	@rm -rf $(BUILD)/publish
	@for edition in instructor student; do \
	  mkdir -p $(BUILD)/publish/$$edition && git archive HEAD | tar -x -C $(BUILD)/publish/$$edition && \
	  cp $(BUILD)/notebooks/$$edition/chapters/*.ipynb $(BUILD)/publish/$$edition/chapters/; done
	@echo "Push $(BUILD)/publish/instructor to the branch lnbook_notebooks_branch and $(BUILD)/publish/student" \
	  "to lnbook_student_branch (both named in _config.yml)."

serve:
	@test -f $(HTML)/index.html || { echo "No site yet: run make book"; exit 1; }
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

# `make lab` opens the reader notebooks of one edition (EDITION=student, the default, or instructor),
# copied into work/<edition>/ where a student's work survives later builds (files already there are
# kept). `make lab-sources` opens the MyST sources in chapters/, for authors.
EDITION ?= student
LAB_DIR ?= work/$(EDITION)
# Jupyter refuses to run as root without --allow-root (containers, CI machines, classroom images).
LAB_CMD ?= $(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)
lab: $(STAMP)
	@case "$(EDITION)" in student|instructor) ;; \
	  *) echo "make lab: EDITION must be student or instructor, got '$(EDITION)'" >&2; exit 2;; esac
	@test -d $(BUILD)/notebooks/$(EDITION)/chapters || $(MAKE) book
	@mkdir -p $(LAB_DIR) && cp -n $(BUILD)/notebooks/$(EDITION)/chapters/*.ipynb $(LAB_DIR)/
	@echo "The $(EDITION) edition's notebooks, in $(LAB_DIR)/ (yours to edit; a rebuild does not touch them)."
	@echo "Authors: make lab-sources opens the sources in chapters/."
	PATH="$(CURDIR)/$(BIN):$$PATH" $(LAB_CMD) $(LAB_DIR)

lab-sources: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(LAB_CMD) chapters/

# The built website printed to one PDF by Debian's Chromium: _build/pdf/layer-norm-book.pdf.
.PHONY: pdf
pdf: $(STAMP) browser-deps
	@test -f $(HTML)/index.html || { echo "No site yet: run make book"; exit 1; }
	$(BIN)/python book/print_pdf.py

# --- benchmark -------------------------------------------------------------
# Layer norm's GB/s and the LN-LSTM's training step, each as a ratio to a reference
# measured in the same run, and issue 11's targets (helpers/bench.py), on one torch thread;
# then the C kernels and the LN-LSTM against F.layer_norm, nn.LSTM and PyTorch's scripted
# LN-LSTM at each count of BENCH_THREADS (1 and torch's default, "all"), with issue 20's targets.
# BENCH_THREADS= (empty) leaves torch's choice and skips the thread comparison.
BENCH_THREADS ?= 1,all
bench: $(STAMP)
	@mkdir -p $(BUILD)/reports
	$(BIN)/python -m helpers.bench --out $(BUILD)/reports $(if $(BENCH_THREADS),--threads $(BENCH_THREADS))

# --- GPU check ---------------------------------------------------------------
# On a CUDA machine, every GPU path of the book once (a few minutes): device choice, the Triton
# layer norm, `make bench`, the LN-LSTM against cuDNN, one full-budget experiment
# (helpers/gpu_check.py); report in _build/reports/gpu.md. Without a GPU: one line, exit status 2.
.PHONY: gpu-check
gpu-check: $(STAMP)
	@mkdir -p $(BUILD)/reports
	$(BIN)/python -m helpers.gpu_check --out $(BUILD)/reports

# --- grading -----------------------------------------------------------------
# Otter-Grader assignments of the chapters' fill-in exercises (book/_ext/otter_assignments.py): per
# chapter, _build/otter/<chapter>/ with source/ (the master notebook), autograder/ (solutions and the
# autograder zip) and student/; `otter assign` runs every solution against its test (the book's checker).
.PHONY: otter
otter: $(STAMP)
	@rm -rf $(BUILD)/otter
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python book/_ext/otter_assignments.py chapters $(BUILD)/otter

# --- tests -----------------------------------------------------------------
# Headless Chromium for the browser test (Debian's package).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	fi

# Slurm and munge for the sweep test's one-node cluster (tests/slurm_cluster.py; Debian's packages, as
# .ci/run installs them). Not a prerequisite of `make test`: without them that test is skipped here
# (and fails under CI=true).
.PHONY: slurm-deps
slurm-deps:
	@if [ ! -x /usr/sbin/slurmctld ] || [ ! -x /usr/sbin/munged ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q slurm-wlm munge; \
	fi

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not site" -q

test-site: $(STAMP) browser-deps
	$(BIN)/python -m pytest -m site -q

# Every chapter executed on a machine without a C compiler (CC=/nonexistent, none on PATH): about five
# minutes on two cores, so not in `make test` (which runs chapter 9 that way). Run it before a release.
.PHONY: test-no-compiler
test-no-compiler: $(STAMP)
	LNBOOK_NO_COMPILER_ALL=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) tests/test_no_compiler.py

# The notebooks are tested as a reader without a GPU runs them: CPU only, quick budget.
test: $(STAMP) browser-deps
	CUDA_VISIBLE_DEVICES= LNBOOK_BUDGET=quick $(MAKE) book student
	$(BIN)/python -m pytest -q --durations=10 -n $(TEST_WORKERS)

# Remove outputs from the notebooks before committing them.
strip: $(STAMP)
	$(BIN)/jupyter nbconvert --clear-output --inplace chapters/*.ipynb

clean:
	rm -rf $(BUILD)
