# The two set-up commands of the README: `make demo` and `make test`. Both install what they need:
# Debian packages (ffmpeg, espeak-ng, libchromaprint1 for the leakage audit; chromium and its driver for
# the pages' browser tests) when missing, then a virtualenv with this package in it.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO ?= demo
# command:package where the Debian package is not named after the command
SYSTEM_PACKAGES := ffmpeg espeak-ng chromium chromedriver:chromium-driver
SYSTEM_LIBRARIES := libchromaprint1  # Chromaprint, for prepare-splits --audit (ffmpeg usually brings it)

.PHONY: demo test install system-packages

system-packages:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  command -v $${entry%%:*} >/dev/null || missing="$$missing $${entry#*:}"; done; \
	for lib in $(SYSTEM_LIBRARIES); do dpkg -s $$lib >/dev/null 2>&1 || missing="$$missing $$lib"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/.installed: setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # the CPU build; first, so no extra pulls a CUDA build
	$(BIN)/pip install -q -e '.[test,models,gcs,server,audit]'
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4
	touch $@

install: system-packages $(BIN)/.installed

# Built-in demo: a synthesized corpus in CREMA-D's raw layout through all four stages, then two zoo
# baselines and the static leaderboard of all three (the last line names the file to open).
demo: install
	rm -rf $(DEMO)
	$(BIN)/python -m nossbench.builders.demo_corpus $(DEMO)/raw
	$(BIN)/tfds build noss/crema_d --imports nossbench.builders --manual_dir $(DEMO)/raw --data_dir $(DEMO)/tfds
	$(BIN)/prepare-splits noss/crema_d --data_dir $(DEMO)/tfds --out $(DEMO)/splits --intra-speaker
	$(BIN)/compute-embeddings --task noss/crema_d --data_dir $(DEMO)/tfds --model logmel \
	  --cache $(DEMO)/cache --export $(DEMO)/logmel.npz
	$(BIN)/score-submission $(DEMO)/logmel.npz --task noss/crema_d --splits $(DEMO)/splits \
	  --out $(DEMO)/reports/logmel --name logmel
	@# Two zoo baselines beside it, so that the demo's static leaderboard compares something.
	$(BIN)/compute-embeddings --task noss/crema_d --data_dir $(DEMO)/tfds --model mfcc13 \
	  --cache $(DEMO)/cache --export $(DEMO)/mfcc13.npz
	$(BIN)/compute-embeddings --task noss/crema_d --data_dir $(DEMO)/tfds --model random_resnetish \
	  --layers embedding --cache $(DEMO)/cache --export $(DEMO)/random_resnetish.npz
	for model in mfcc13 random_resnetish; do \
	  $(BIN)/score-submission $(DEMO)/$$model.npz --task noss/crema_d --splits $(DEMO)/splits \
	    --out $(DEMO)/reports/$$model --name $$model > /dev/null || exit 1; done
	for model in logmel mfcc13 random_resnetish; do \
	  echo '{"team": "nossbench demo"}' > $(DEMO)/reports/$$model/submission.json; done
	$(BIN)/nossbench-server export --reports $(DEMO)/reports/logmel $(DEMO)/reports/mfcc13 \
	  $(DEMO)/reports/random_resnetish --out $(DEMO)/site

# The server's database tests also run against PostgreSQL: a throwaway cluster for the length of the run.
test: install
	.ci/with-postgres $(BIN)/pytest -q --durations=15
