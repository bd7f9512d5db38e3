# One command each: `make test` (set up + all tests) and `make main` (set up + the main job).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(if $(PNEUMONET_DATA),$(PNEUMONET_DATA),data/chest_xray)
WEIGHTS ?= $(if $(PNEUMONET_WEIGHTS),$(PNEUMONET_WEIGHTS),weights)

.PHONY: setup test test-jax main demo benchmarks badges browser clean

setup: $(VENV)/.installed

# exactly the documented path without make: pip install -e ".[all]" (pyproject.toml owns the dependencies)
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]"
	touch $@

# Everything under TensorFlow, then the core again under JAX with TensorFlow import blocked.
test: setup browser
	MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider --durations=15
	$(MAKE) test-jax

test-jax: setup
	KERAS_BACKEND=jax PNEUMONET_BLOCK_TF=1 MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider -m "not slow" \
		tests/test_catalog.py tests/test_splits.py tests/test_pipelines.py tests/test_models.py \
		tests/test_training.py tests/test_evaluation.py tests/test_gradcam.py tests/test_io.py \
		tests/test_robustness.py tests/test_lineup.py tests/test_progress.py tests/test_multiclass.py \
		tests/test_scaling.py tests/test_dicom.py tests/test_export.py tests/test_demo.py tests/test_colab.py \
		tests/test_plots.py tests/test_classical.py tests/test_search.py

# The main job: the five notebooks on real data (DATA=..., WEIGHTS=... folder), or the demo when there is none.
# Each job writes a new runs/main-<time>/; RESULTS=results/main OVERWRITE=1 refreshes the committed results instead;
# SMOKE=1 runs it tiny (one epoch, small images, no pretrained weights) into runs/smoke-<time>/: a check that all runs.
main: setup
	$(VENV)/bin/pneumonet run $(if $(wildcard $(DATA)),--data $(DATA)) $(if $(wildcard $(WEIGHTS)),--weights-dir $(WEIGHTS)) $(if $(RESULTS),--results $(RESULTS)) $(if $(OVERWRITE),--overwrite) $(if $(SMOKE),--smoke)

benchmarks: setup
	$(PY) benchmarks/pipeline.py --data $(DATA)
	$(PY) benchmarks/fast_phase1.py
	$(PY) benchmarks/fast_phase1.py --backbone vgg16 --images 256 --skip-keras-fit
	$(PY) benchmarks/bootstrap.py
	$(PY) benchmarks/gradcam_speed.py

# "Open in Colab" badges in every notebook and README.md, from the repository's public GitHub URL
badges: setup
	$(PY) -m pneumonet.notebook --repository $(REPO)

# Chromium and chromedriver for the browser test of the demo (tests/test_demo.py), from the system packages:
# installed with apt-get when it is there and we are root; otherwise says so (that test is then skipped).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
			echo "make browser: apt-get failed; the browser test will be skipped"; \
	else \
		echo "make browser: needs apt-get and root; install Chromium and chromedriver yourself (the browser test is skipped without them)"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
