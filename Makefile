# The README's two commands: `make demo` and `make test` (both need root on a fresh machine).
PYTHON ?= python3
TOX = $(PYTHON) -m tox

.PHONY: bootstrap demo test
bootstrap:
	@$(PYTHON) -m tox --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q 'tox>=4.11'

demo: bootstrap
	$(TOX) -e host,demo

test: bootstrap
	$(TOX)
