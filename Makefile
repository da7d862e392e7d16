# Two commands for a new user: `make demo` and `make test`. Each sets up what it needs.
VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  ?= python3
PACKAGES := hub proxy clients centrifugo
# The demo page's npm dependencies (centrifuge-js), installed once per package-lock.json.
WEBDEPS := demo/web/node_modules/.stamp

.PHONY: demo test lint typecheck unit integration bench gobench setup centrifugo redis nginx browser loadtools proto clean

demo: setup $(WEBDEPS)
	$(BIN)/hub check -c demo/hub.yaml
	$(BIN)/python -m demo

test: setup redis nginx browser lint typecheck
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

integration: setup redis nginx browser
	$(BIN)/pytest tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy -p hub

# The benchmarks' extra Python deps (plots, profiler) and the compiled load generator and
# no-op proxy (Go, through the Go module proxy; binaries go to the ignored bench/.bin/).
bench: setup redis loadtools $(VENV)/.bench-deps gobench
	$(BIN)/python -m bench

$(VENV)/.bench-deps: pyproject.toml
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

gobench:
	@command -v go >/dev/null || { echo "the benchmarks need Go (1.26+) to build bench/go" >&2; exit 1; }
	cd bench/go && go build -o ../.bin/ ./...

setup: $(VENV)/.deps centrifugo

# Dependencies: only when pyproject.toml changes.
$(VENV)/.deps: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

centrifugo:
	bash centrifugo/install.sh

redis:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server is needed by the tests: sudo apt-get install redis-server" >&2; exit 1; fi; }

# The demo page's centrifuge-js, from the npm registry (package-lock.json), served locally.
$(WEBDEPS): demo/web/package.json demo/web/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "the demo page needs npm (Node.js): sudo apt-get install npm" >&2; exit 1; fi; }
	cd demo/web && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The browser tests (tests/integration/test_demo_browser.py): Debian's chromium, driven by
# Playwright (a dev dependency) at /usr/bin/chromium; no test tool downloads a browser.
browser: $(WEBDEPS)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# The load balancer of the load-balanced scale-out test (docs/deploy/nginx.conf); only its binary
# is used: the test starts it on a free port and stops it by pid.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx >/dev/null; \
	  else echo "nginx is needed by the tests: sudo apt-get install nginx" >&2; exit 1; fi; }

# Load generators of the proxy benchmark: wrk (HTTP) and h2load (gRPC, from nghttp2-client).
loadtools:
	@command -v wrk >/dev/null && command -v h2load >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk nghttp2-client >/dev/null; \
	  else echo "the benchmarks need wrk and h2load: sudo apt-get install wrk nghttp2-client" >&2; exit 1; fi; }

proto:
	$(BIN)/python centrifugo/gen_proto.py

clean:
	rm -rf $(VENV) .bin bench/.bin build *.egg-info .pytest_cache .mypy_cache .ruff_cache
