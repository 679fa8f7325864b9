# spikebox — two commands on a fresh machine:
#   make demo   set up the robot environment and run the main job
#   make test   set up the robot environment and pass the tests
PYTHON310 ?= python3.10
PYTHON311 ?= python3.11
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
FIRMWARE  := firmware_bridge/firmware
BUILD     := $(CURDIR)/build/firmware

.PHONY: all venv firmware ctest test test-robot test-train demo bench-bridge train-env experts clean

all: test

# The robot environment: Python 3.10 (JetPack 6; lava-nc 0.10 needs <3.11), numpy<2.
$(STAMP): pyproject.toml setup.py requirements/robot.txt runtime/activator/_frame_kernel.c
	@command -v $(PYTHON310) >/dev/null || { echo "need Python 3.10 ($(PYTHON310)); with pyenv: pyenv install 3.10.13"; exit 1; }
	$(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/robot.txt -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# The reference firmware built for this computer: the virtual MCU and its C tests.
firmware:
	$(MAKE) -s -C $(FIRMWARE) BUILD=$(BUILD) virtual_mcu test_firmware libsbcore.so fuzz_link

ctest:
	$(MAKE) -s -C $(FIRMWARE) BUILD=$(BUILD) test

# The robot suite first; then PyTorch's door into export, in the training env.
test: venv firmware train-env
	$(PY) -m pytest -q
	$(MAKE) -s test-train

test-robot: venv firmware
	$(PY) -m pytest -q

# confcutdir: tests/conftest.py belongs to the robot suite (hypothesis profile, collect_ignore).
test-train: train-env
	.venv-train/bin/python -m pytest -q --confcutdir=tests/train tests/train/

# The main job: the daemon drives the demo world for a minute, then writes its report (JSON
# and plots; a new folder each run) and says where it is.
DEMO_REPORT = runs/demo-$(shell date +%Y%m%d-%H%M%S)
demo: venv firmware
	$(VENV)/bin/spikebox run --seconds 60 --report $(DEMO_REPORT)

bench-bridge: venv firmware
	$(VENV)/bin/spikebox bench bridge

# The off-device training environment (Python 3.11 + torch==2.13.0), for the
# recipes that need PyTorch and export's PyTorch door. Nothing on the robot side uses it.
.venv-train/.installed: requirements/train.txt pyproject.toml setup.py
	$(PYTHON311) -m venv .venv-train
	.venv-train/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/train.txt
	.venv-train/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

train-env: .venv-train/.installed

# The demo box from scratch: every recipe's full run (tools/recipes/; 2-17 minutes each on
# 2 cores: rendering the world, training, export), then the activator trained again in one pass
# on every expert's cue frames from the same drives (rewake.py: each recipe alone picks its
# examples from its own drives, which on these recipes cost 6 points of top-1), compiled for
# Lava and the box checked, with the robot env (it has Lava). Replaces models/demo.box only
# when all passed.
EXPERTS := line_follow sign_read ball_find obstacle_avoid dock exit_find
experts: train-env venv firmware
	rm -rf build/demo.box
	$(VENV)/bin/spikebox export init build/demo.box --name demo
	for recipe in $(EXPERTS); do \
		.venv-train/bin/python tools/recipes/$$recipe.py --box build/demo.box || exit 1; done
	rm -rf build/demo-rewake.box
	.venv-train/bin/python tools/recipes/rewake.py --from build/demo.box --box build/demo-rewake.box
	$(VENV)/bin/spikebox export compile build/demo-rewake.box
	$(VENV)/bin/spikebox export check build/demo-rewake.box
	rm -rf models/demo.box && cp -r build/demo-rewake.box models/demo.box

clean:
	rm -rf build $(VENV) .venv-train .pytest_cache
