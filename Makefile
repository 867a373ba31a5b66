# fastnn: two commands do everything on a fresh machine.
#   make bench   build, then compare fastnn against torch.nn (the main job)
#   make test    build, compile-check the CUDA sources (when nvcc exists), run the tests
# Both create or reuse the virtualenv .venv (set VENV= to use another).

VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
BENCH_ARGS ?=

.PHONY: bench test build deps cuda-check clean examples-deps examples

$(PY):
	python3 -m venv $(VENV)

# torch==2.13.0 is installed only when no torch is importable (never a different
# spec: that would pull a multi-GB CUDA build).
deps: $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	@$(PY) -c "import numpy, pybind11, pytest, ninja" 2>/dev/null || $(PIP) install numpy pybind11 pytest ninja

build: deps
	$(PIP) install --no-build-isolation -e . -q

cuda-check: deps
	@bash .ci/check_cuda.sh $(PY)

# scikit-learn is needed only by examples/ and tests/test_examples.py (its bundled copy of the
# handwritten digits is their data set, loaded without any download); fastnn itself does not need it.
examples-deps: deps
	@$(PY) -c "import sklearn" 2>/dev/null || $(PIP) install scikit-learn

examples: build examples-deps
	$(PY) examples/mlp_digits.py
	$(PY) examples/cnn_digits.py
	$(PY) examples/rnn_digits.py
	$(PY) examples/char_lm.py
	$(PY) examples/ddp_train.py

test: build cuda-check examples-deps
	$(PY) -m pytest tests -q -ra

bench: build
	$(PY) -m fastnn.bench $(BENCH_ARGS)

clean:
	rm -rf build fastnn/_C*.so *.egg-info
