# One-command entry points. Both set themselves up on a fresh clone (Python 3.11+ only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The FAQ's word vectors: only the package's vocab files are read (bot/faq/vectors.py), so it
# is installed without its own requirements (spaCy, ginza, SudachiPy<0.7).
JA_GINZA := 'ja-ginza==5.3.0'

.PHONY: run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(JA_GINZA)
	touch $(STAMP)

## run: start web, worker, scheduler and the LINE emulator on SQLite + embedded Redis
##      (ports 8000 and 8081; others with PORT=9000 EMULATOR_PORT=9081 make run)
run: $(STAMP)
	$(BIN)/python -m bot.devserver

## test: the whole suite on SQLite + in-process Redis (set TEST_DATABASE_URL/TEST_REDIS_URL for real services)
test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/webhook.py

clean:
	rm -rf $(VENV) instance/*.sqlite3*
