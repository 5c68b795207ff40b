# Works on a fresh machine with only python3 (3.11+): every target builds .venv on demand.
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
PYTEST_ARGS ?=
# One pytest worker per core, at most four; each takes whole files, so a module's fixtures are
# built once, in the order tests/conftest.py gives (the longest first). Run
# `make test PYTEST_WORKERS=` for one process.
PYTEST_WORKERS ?= -n auto --maxprocesses=4 --dist loadfile --no-loadscope-reorder
LINT_PATHS ?= marking tests bench fuzz

.PHONY: all demo serve test bench bench-batch bench-false-alarms lint fuzz clean distclean venv

all: test

# --- virtual environment and install stamps ------------------------------------------------
# Each stamp depends on pyproject.toml, so editing dependencies reinstalls; otherwise re-running
# a target does not touch pip.

$(VPY):
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(VPY)

# The metadata-label tests check files with exiftool (apt package libimage-exiftool-perl):
# installed here when running as root, otherwise asked for. The stamp makes it a one-time check.
$(VENV)/.exiftool: | $(VPY)
	command -v exiftool >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && \
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl; \
		else \
			echo "make test needs exiftool: sudo apt-get install libimage-exiftool-perl" >&2; \
			exit 1; \
		fi; \
	}
	touch $@

# The page of `aigc-mark serve` is tested in Debian's headless Chromium driven by Selenium
# (tests/server/test_browser.py): installed here when running as root, with a CJK font for the
# Chinese page's screenshots, otherwise asked for; a one-time check like exiftool's.
$(VENV)/.chromium: | $(VPY)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				chromium chromium-driver fonts-wqy-microhei; \
		else \
			echo "make test needs Chromium: sudo apt-get install chromium chromium-driver" >&2; \
			exit 1; \
		fi; \
	}
	touch $@

# The demo runs only the package: no test extras. pip says only what goes wrong.
$(VENV)/.installed-demo: pyproject.toml | $(VPY)
	@echo "installing aigc-marking into $(VENV)/ (once; pip -q)"
	$(PIP) install -q -e '.[serve]'
	$(VPY) -m marking.warmup
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VPY)
	$(PIP) install -e '.[test]'
	$(VPY) -m marking.warmup
	touch $@

# invisible-watermark's metadata drags in PyTorch, and blind-watermark's the GUI build of OpenCV:
# install both with --no-deps, after the bench extra has brought what they really need
# (opencv-python-headless, PyWavelets).
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(PIP) install -e '.[test,bench]'
	$(PIP) install --no-deps invisible-watermark blind-watermark
	touch $@

$(VENV)/.installed-lint: pyproject.toml $(VENV)/.installed-test
	$(PIP) install -e '.[test,lint]'
	touch $@

# --- targets --------------------------------------------------------------------------------

# A second run reuses the first run's outputs (see samples/demo.sh).
demo: $(VENV)/.installed-demo
	@bash samples/demo.sh

# The public detection tool on this machine only: the page and API on http://127.0.0.1:8000/
# (SERVE_ARGS adds options, e.g. SERVE_ARGS='--keys-file keys.txt --feedback-dir build/feedback').
SERVE_ARGS ?=
serve: $(VENV)/.installed-demo
	$(VENV)/bin/aigc-mark serve --host 127.0.0.1 --port 8000 $(SERVE_ARGS)

# The tests read our metadata back with exiftool, an independent reader, and drive the page in
# Chromium; the demo needs neither.
test: $(VENV)/.installed-test $(VENV)/.exiftool $(VENV)/.chromium
	$(VPY) -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(VENV)/.installed-bench
	$(VPY) -m pytest bench --benchmark-only $(PYTEST_ARGS)
	$(VPY) bench/compare_image.py
	$(VPY) bench/image_geometry.py
	$(VPY) bench/large_image.py
	$(VPY) bench/compare_audio.py
	$(VPY) bench/large_audio.py
	$(VPY) bench/compare_video.py
	$(VPY) bench/compare_video.py --profile fast --skip-speed --skip-peer
	$(VPY) bench/compare_video.py --match-size --skip-speed --skip-peer
	$(VPY) bench/video_cost.py
	$(VPY) bench/video_geometry.py
	$(VPY) bench/large_video.py --minutes 1
	$(VPY) bench/batch_throughput.py --files 200 --repeats 1 --dask --video-minutes 0.5 \
		--audio-minutes 15 --no-reference --output bench/results/batch-quick.md
	$(VPY) bench/false_alarms.py --scale 0.05 --output bench/results/false-alarms-quick.md
	$(VPY) bench/serve_load.py
	$(VPY) bench/serve_hostile.py

# The full batch benchmark of issue 7 (1,000 1080p JPEGs, 3 pairs of 1- and 2-worker runs, a
# 2-minute video and a 60-minute recording): about 20 minutes on 2 cores, on a quiet machine.
bench-batch: $(VENV)/.installed-bench
	$(VPY) bench/batch_throughput.py --repeats 3 --dask --wait-quiet 0.6 --wait-minutes 45

# Issue 9: 6,400 picture, 800 sound and 1,800 video detections of unmarked media, and 4.5
# million decodes of noise, confirm the stated false-alarm probability (about 28 minutes).
bench-false-alarms: $(VENV)/.installed-bench
	$(VPY) bench/false_alarms.py

lint: $(VENV)/.installed-lint
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

# Issue 9: the hypothesis fuzz tests with many more examples, then each atheris harness in
# fuzz/ for FUZZ_SECONDS. Every harness runs even when one finds a crash; crash inputs go to
# fuzz/findings/ (git-ignored), and the target fails at the end if there are any. Copy a
# finding into tests/data/fuzz-regressions/<harness>/ so that make test replays it.
FUZZ_SECONDS ?= 60
fuzz: $(VENV)/.installed-test
	$(PIP) install -e '.[test,fuzz]'
	HYPOTHESIS_PROFILE=fuzz $(VPY) -m pytest tests/tags/test_fuzz_parsers.py $(PYTEST_ARGS)
	mkdir -p fuzz/findings
	failed=0; for harness in fuzz/fuzz_*.py; do \
		name=$$(basename $$harness .py); \
		$(VPY) $$harness -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/findings/$${name#fuzz_}- || failed=1; \
	done; \
	if [ $$failed = 1 ]; then echo "fuzzing found crashes: see fuzz/findings/" >&2; exit 1; fi

clean:
	rm -rf build .pytest_cache .benchmarks .ruff_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name '*.nbi' -o -name '*.nbc' \) \
		-prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
