# Tổng đài 1022, nhánh 7: one entry point for people and CI.
# Two Python environments (see docs/architecture.md): .venv-rasa (Python 3.10, Rasa's old pins)
# and .venv (Python 3.11, voice gateway + `bot` CLI). Rasa runs as its own process.
SHELL := /bin/bash
.DEFAULT_GOAL := help

RASA_VENV := .venv-rasa
GW_VENV   := .venv
BOT       := $(GW_VENV)/bin/bot
PYTEST    := $(GW_VENV)/bin/python -m pytest
# Set-up stamps: a fresh clone builds them on first use, so `make run` or `make test` alone is enough.
SYSTEM    := var/.system-installed
GATEWAY   := $(GW_VENV)/.installed
RASA      := $(RASA_VENV)/.installed
MODEL     := models/.trained
TURN_MODEL := models/smart-turn/smart-turn-v3.2-cpu.onnx

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help cluster prompts install install-system install-rasa install-gateway install-turn-model validate build train overlap run chat test test-fast bench lock-rasa lock-gateway clean

help:
	@echo "make run       answer calls: Rasa, SIP 127.0.0.1:5060, AudioSocket :9092, web page :8080 (Ctrl-C stops)"
	@echo "make chat      a typed conversation with the bot"
	@echo "make cluster   Kamailio on SIP 127.0.0.1:5060 and two gateways behind it (docs/cluster.md)"
	@echo "make test      run all tests"
	@echo "               (run, chat and test first install what is missing and train the model if needed)"
	@echo "make install   only set up: system packages and both Python environments"
	@echo "make validate  check the editors' FAQ YAML in data/faq/"
	@echo "make train     validate, build and train; a running bot picks the new model up"
	@echo "make overlap   which FAQ entries the bot confuses, with the examples that show it"
	@echo "make prompts  pre-render every answer and prompt to 8 kHz audio (var/prompts/)"
	@echo "make bench     accuracy, latency, training time, load time, memory -> docs/benchmarks.md"

install: install-system install-rasa install-gateway install-turn-model
	@echo "Installed. Activate the CLI with: source $(GW_VENV)/bin/activate   (or run $(BOT))"

# Always checks (quick when all is present); the stamp lets other targets skip the check.
install-system:
	@scripts/install-system.sh && mkdir -p $(dir $(SYSTEM)) && touch $(SYSTEM)
$(SYSTEM): scripts/install-system.sh
	@scripts/install-system.sh && mkdir -p $(@D) && touch $@

install-rasa: $(RASA)
$(RASA): requirements/rasa.lock scripts/find-python.sh | $(SYSTEM)
	@py=$$(scripts/find-python.sh 3.10) || exit 1; \
	  echo "Rasa environment: $$py -> $(RASA_VENV)"; \
	  rm -rf $(RASA_VENV) && $$py -m venv $(RASA_VENV) && \
	  $(RASA_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements/rasa.lock 2>&1 | grep -v '^WARNING: Location' ; \
	  $(RASA_VENV)/bin/python -c "import rasa, rasa_sdk" && touch $@

install-gateway: $(GATEWAY)
$(GATEWAY): requirements/gateway.lock pyproject.toml scripts/find-python.sh | $(SYSTEM)
	@py=$$(scripts/find-python.sh 3.11) || exit 1; \
	  echo "Gateway environment: $$py -> $(GW_VENV)"; \
	  rm -rf $(GW_VENV) && $$py -m venv $(GW_VENV) && \
	  $(GW_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements/gateway.lock 2>&1 | grep -v '^WARNING: Location' ; \
	  $(GW_VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -E '^(ERROR|error)' ; \
	  $(BOT) --help >/dev/null && touch $@

# The end-of-turn model (bot/vad/smart_turn.py): one ONNX file from the pipecat-ai wheel, checked by hash.
install-turn-model: $(TURN_MODEL)
$(TURN_MODEL): scripts/install-turn-model.sh | $(GATEWAY)
	@scripts/install-turn-model.sh

validate build: $(GATEWAY)
	@$(BOT) $@

prompts: $(GATEWAY) $(SYSTEM)
	@$(BOT) prompts

train overlap: $(GATEWAY) $(RASA)
	@$(BOT) $@

# A new Rasa environment retrains (a model may not load in another Rasa); the gateway
# environment and the system packages only have to be there.
$(MODEL): $(shell find data/faq data/everyday data/noise config.yml domain bot/danger bot/noise -type f -not -name '*.pyc' 2>/dev/null) \
          rules.yml actions/nlu/ngram_classifier.py actions/nlu/ngram_model.py actions/nlu/danger.py \
          $(RASA) | $(GATEWAY) $(SYSTEM)
	@$(BOT) train

run chat: $(MODEL) | $(TURN_MODEL)
	@$(BOT) $@

cluster: $(MODEL) | $(TURN_MODEL)
	@$(BOT) cluster

test: $(MODEL) | $(TURN_MODEL)
	@$(PYTEST) -q tests

test-fast: $(GATEWAY) $(SYSTEM) | $(TURN_MODEL)
	@$(PYTEST) -q -m "not slow" tests

bench: $(MODEL) | $(TURN_MODEL)
	@$(GW_VENV)/bin/python -m bench.run

lock-rasa:
	@tmp=$$(mktemp -d) && py=$$(scripts/find-python.sh 3.10) && $$py -m venv $$tmp && \
	  $$tmp/bin/pip install -q -r requirements/rasa.in && \
	  { echo "# Exact pins of the Rasa environment (Python 3.10). Generated from rasa.in by pip freeze."; $$tmp/bin/pip freeze; } > requirements/rasa.lock

lock-gateway:
	@tmp=$$(mktemp -d) && py=$$(scripts/find-python.sh 3.11) && $$py -m venv $$tmp && \
	  grep -v '^silero-vad' requirements/gateway.in > $$tmp/in.txt && \
	  $$tmp/bin/pip install -q -r $$tmp/in.txt && \
	  $$tmp/bin/pip install -q --no-deps $$(grep '^silero-vad' requirements/gateway.in | cut -d' ' -f1) && \
	  { echo "# Exact pins of the gateway/CLI environment (Python 3.11). Generated from gateway.in by pip freeze."; $$tmp/bin/pip freeze; } > requirements/gateway.lock

clean:
	rm -rf build .pytest_cache models/*.tar.gz models/.trained
