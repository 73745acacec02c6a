# The two commands of the README's quick start, and what they build on.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test docs clean

# The virtualenv is rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

## Set up, migrate and run the demo's nightly flow on an embedded worker.
demo: $(STAMP)
	cd demo && ../$(BIN)/python manage.py migrate --noinput --verbosity=0
	cd demo && ../$(BIN)/python manage.py rundemo

## Run the whole test suite (embedded default; set DATABASE_URL and
## CELERY_BROKER_URL to run it against PostgreSQL and Redis or RabbitMQ).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Build the docs site; any warning fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

clean:
	rm -rf $(VENV) demo/var build
