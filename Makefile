# Two commands matter: `make run` and `make test`. Each sets everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench bench-pg soak lock clean

install: $(STAMP)

# torch first, pinned: asked for indirectly, pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check 'pip>=24'
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,postgres]'
	@touch $(STAMP)

run: install
	$(PY) -m bot

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Not part of CI: quality, answers, throughput, latency, rebuild and 1 M-chunk scale (~1 h).
bench: install
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,bench]'
	$(PY) -m bench $(if $(FULL),--full,)

# Not part of CI: 1/2/3 processes ingesting into one PostgreSQL (a throwaway server, or PG_URL)
# while another asks; the same on SQLite. Quality on PostgreSQL: README "Past one machine".
bench-pg: install
	$(PY) -m bench.pg --sqlite $(if $(PG_URL),--admin-url $(PG_URL),)

# Not part of CI (nor of bench): 3 processes ingest, ask, rebuild and forget on one data folder
# for 5 minutes (MINUTES=…); fails unless no error, check ok and every article stored once.
soak: install
	$(PY) -m bench.soak $(if $(MINUTES),--minutes $(MINUTES),)

lock: install
	@(echo "# Every package newsbot installs, pinned (pip freeze of a working .venv). Used as constraints"; \
	  echo "# by 'make install'; regenerate with 'make lock' after changing pyproject.toml."; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^newsbot') > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
