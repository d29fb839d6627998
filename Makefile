# Two commands for a newcomer: `make demo` runs the bot on its embedded default, `make test` runs the tests.
# Both create or refresh .venv by themselves; the install is skipped while pyproject.toml (and the C source it
# builds) is unchanged.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml bot/dataprep/_utf8.c tests/js/package.json 2>/dev/null | sha1sum | cut -c1-12)
# The local chat page serves Web Chat's prebuilt bundle; `npm pack` fetches just that package (no dependency
# tree), at the version webchat/package.json pins, and only its webchat.js is kept.
WEBCHAT_VERSION := $(shell sed -n 's/.*"botframework-webchat": *"\([^"]*\)".*/\1/p' webchat/package.json)
WEBCHAT := webchat/dist/webchat.js

.PHONY: demo test lint bench install browser

install: $(STAMP) $(WEBCHAT)

$(WEBCHAT): webchat/package.json
	@mkdir -p webchat/dist
	cd webchat && rm -f botframework-webchat-*.tgz \
		&& npm pack --silent botframework-webchat@$(WEBCHAT_VERSION) >/dev/null \
		&& tar -xzf botframework-webchat-$(WEBCHAT_VERSION).tgz -C dist --strip-components=2 \
			package/dist/webchat.js package/dist/webchat.js.LICENSE.txt \
		&& rm -f botframework-webchat-*.tgz
	@touch $@

# The browser tests drive Debian's Chromium (Playwright never downloads a browser of its own); install it if
# missing (as root, as on CI; elsewhere the tests skip with the reason unless FTBOT_REQUIRE_BROWSER=1).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		echo "installing Chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
		|| echo "could not install Chromium: the browser tests will skip (set FTBOT_REQUIRE_BROWSER=1 to fail)"; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@if [ -f tests/js/package.json ]; then cd tests/js && npm install --no-audit --no-fund --silent; fi
	@rm -f $(VENV)/.installed-*; touch $@

demo: install
	$(BIN)/ftbot demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest -q -ra $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
