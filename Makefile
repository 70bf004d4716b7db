# Drover: `make up` runs it on embedded defaults, `make test` runs lint, typecheck and the suite.
# Both install what is missing first: system packages from apt, node modules from npm.
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES_UP   := nats-server
APT_PACKAGES_TEST := nats-server openssh-server
# sudo only when not root (a root shell on a fresh machine often has no sudo at all).
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null && echo sudo)

.PHONY: help up test deps deps-up deps-test build lint typecheck unit bench clean

help:
	@echo "make up     install what is missing, start Drover on embedded defaults"
	@echo "make test   install what is missing, run lint, typecheck and the whole test suite"
	@echo "make bench  run the benchmarks (QUICK=1 for a short run)"

# Installs the Debian packages that are missing; nothing is downloaded from anywhere but apt.
define apt_install
	@missing=""; \
	for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing from apt:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

# `npm install` honours the committed lock; `npm ci` would refuse it because the registry
# serves no macOS/Windows builds of msgpackr-extract's optional native packages. `--no-save`
# keeps npm 11 from rewriting the lock with those entries, which left every checkout modified
# (and every bench result marked +dirty).
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	@touch $@

deps-up: node_modules/.installed
	$(call apt_install,$(APT_PACKAGES_UP))

deps-test: node_modules/.installed
	$(call apt_install,$(APT_PACKAGES_TEST))

deps: deps-test

# The compiled build bin/drover runs while it is current (bin/drover falls back to tsx otherwise).
# The stamp is written last, so a failed build leaves bin/drover on the sources.
dist/.built: node_modules/.installed tsconfig.json tsconfig.build.json $(shell find src -name '*.ts')
	npx tsc -p tsconfig.build.json
	@touch $@

build: dist/.built

up: deps-up build
	./bin/drover up

lint: node_modules/.installed
	npx eslint .

typecheck: node_modules/.installed
	npx tsc --noEmit

# The last line is the plain summary CI reads, computed from vitest's JSON report.
test: deps-test build
	npx eslint .
	npx tsc --noEmit
	@rm -f .vitest-report.json; status=0; \
	npx vitest run --reporter=default --reporter=json --outputFile.json=.vitest-report.json || status=$$?; \
	node -e 'const r = require("./.vitest-report.json"); console.log(`tests: $${r.numPassedTests} passed, $${r.numFailedTests} failed, $${r.numPendingTests + r.numTodoTests} skipped`)' || status=1; \
	exit $$status

bench: deps-test build
	QUICK=$(QUICK) node --import tsx bench/run.ts

clean:
	rm -rf .drover coverage dist
