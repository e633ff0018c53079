# Build, run and test the MCP weather tool as a WASI component served by mcp-host.
# Everything a fresh machine needs is installed here, once, into $(TOOLS).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

TOOLS ?= $(HOME)/.cache/mcp-wasm-tools
PORT ?= 8080
OPEN_METEO_URL ?= https://api.open-meteo.com
CARGO ?= cargo

# The recipes below build the host and the test components into the locations that follow;
# this tells tests/build.rs (which otherwise builds them for a plain `cargo test`) not to.
export MCP_E2E_PREBUILT := 1

HOST_BIN := target/release/mcp-host
WEATHER_WASM := target/wasm32-wasip2/guest/weather.wasm
COMPONENTS := build/components
TEST_COMPONENTS := build/test-components

WASMTIME_VERSION := 48.0.8
WASMTIME := $(TOOLS)/wasmtime-$(WASMTIME_VERSION)/bin/wasmtime

NODE_DIR := $(TOOLS)/node22
NODE := $(NODE_DIR)/node_modules/.bin/node
CLIENTS_LOCK := tests/clients/package-lock.json
CLIENT_DEPS = $(TOOLS)/npm-clients-$(shell sha256sum $(CLIENTS_LOCK) | cut -c1-16)
PY_REQUIREMENTS := tests/clients/python/requirements.txt
VENV = $(TOOLS)/venv-clients-$(shell sha256sum $(PY_REQUIREMENTS) | cut -c1-16)
BENCH_REQUIREMENTS := bench/fastmcp/requirements.txt
BENCH_VENV = $(TOOLS)/venv-fastmcp-$(shell sha256sum $(BENCH_REQUIREMENTS) | cut -c1-16)

CHROMIUM ?= /usr/bin/chromium
BROWSER_LOCK := tests/browser/package-lock.json
BROWSER_DEPS = $(TOOLS)/npm-browser-$(shell sha256sum $(BROWSER_LOCK) | cut -c1-16)
SCREENSHOT_DIR ?= build/screenshots

BLOB_LOCK := tests/blob/package-lock.json
BLOB_DEPS = $(TOOLS)/npm-blob-$(shell sha256sum $(BLOB_LOCK) | cut -c1-16)

# Tool components in Python, built by componentize-py (PyPI, once per machine) against the
# contract plus guest/python/wit; its `tools` interface is exported as the SDK package
# `mcp_tool`, which holds the tool-call resource. Each is rebuilt only when its sources change.
POLYGLOT := build/polyglot
PY_BUILD_REQUIREMENTS := guest/python/requirements.txt
COMPONENTIZE_PY_VENV = $(TOOLS)/venv-componentize-py-$(shell sha256sum $(PY_BUILD_REQUIREMENTS) | cut -c1-16)
COMPONENTIZE_PY = $(COMPONENTIZE_PY_VENV)/bin/componentize-py -q -d wit -d guest/python/wit \
	--export-interface-name mcp:tool/tools@0.1.0=mcp_tool
PY_SDK := $(shell find guest/python/sdk guest/python/wit -name '*.py' -o -name '*.wit') wit/mcp-tool.wit
PY_WEATHER := $(POLYGLOT)/python/weather.wasm
PY_HOSTILE := $(TEST_COMPONENTS)/hostile-python.wasm
PY_FEATURES := $(TEST_COMPONENTS)/features-python.wasm
# Tool components in TypeScript: esbuild and componentize-js (npm, once per lockfile), driven
# by guest/typescript/build.mjs through componentize-js's JS API.
TS_LOCK := guest/typescript/package-lock.json
TS_DEPS = $(TOOLS)/npm-componentize-js-$(shell sha256sum $(TS_LOCK) | cut -c1-16)
TS_SOURCES := $(shell find guest/typescript -path '*/node_modules' -prune -o -type f -print) \
	$(wildcard guest/python/wit/deps/*.wit) wit/mcp-tool.wit
TS_WEATHER := $(POLYGLOT)/typescript/weather.wasm
TS_HOSTILE := $(TEST_COMPONENTS)/hostile-typescript.wasm
TS_FEATURES := $(TEST_COMPONENTS)/features-typescript.wasm
# The HTTP adapter for `wasmtime serve`, and the Python and TypeScript tools composed with it.
SERVE_ADAPTER := target/wasm32-wasip2/guest/mcp_serve_adapter.wasm
SERVE_DIR := build/serve
WEATHER_SKILL := guest/weather/skills/current-weather/SKILL.md
# LANG=python or LANG=typescript: `make run` serves that build of the weather tool.
RUN_COMPONENTS := $(if $(filter python typescript,$(LANG)),$(POLYGLOT)/$(LANG),$(COMPONENTS))
# `make serve LANG=...`: that build composed with the HTTP adapter.
SERVE_WASM = $(if $(filter python typescript,$(LANG)),$(SERVE_DIR)/$(LANG)-weather.wasm,$(WEATHER_WASM))

# Debian's docker-registry (the CNCF distribution registry), unpacked from its .deb: no
# service, no root-owned state. The OCI tests run it on loopback.
DOCKER_REGISTRY_VERSION := 2.8.2+ds1-1
DOCKER_REGISTRY_DIR := $(TOOLS)/docker-registry-$(DOCKER_REGISTRY_VERSION)
DOCKER_REGISTRY := $(DOCKER_REGISTRY_DIR)/usr/bin/docker-registry

# Debian's nginx, unpacked the same way: the load balancer of the multi-instance tests,
# run unprivileged with a configuration of their own. Whichever revision the archive has
# (security updates remove the one before): `nginx -v` says which.
NGINX_DIR := $(TOOLS)/nginx-debian
NGINX := $(NGINX_DIR)/usr/sbin/nginx

CONFORMANCE_0116 := $(TOOLS)/conformance-0.1.16
CONFORMANCE_2026 := $(TOOLS)/conformance-0.2.0-alpha.12
INSPECTOR := $(TOOLS)/inspector-2.12.0

# $(call npm-tool,DIR,PACKAGE@VERSION): installs an npm package once into DIR.
define npm-tool
	@if [ ! -f "$(1)/.complete" ]; then \
	  rm -rf "$(1)" && mkdir -p "$(1)" && cd "$(1)" && npm init -y >/dev/null && \
	  npm install --no-audit --no-fund $(2) && touch .complete; \
	fi
endef

# $(call venv,DIR,REQUIREMENTS): a Python virtualenv with REQUIREMENTS, once into DIR.
define venv
	@if [ ! -f "$(1)/.complete" ]; then \
	  rm -rf "$(1)" && python3 -m venv "$(1)" && \
	  "$(1)/bin/pip" install --quiet --disable-pip-version-check -r $(2) && \
	  touch "$(1)/.complete"; \
	fi
endef

# $(call npm-lock,DIR,FOLDER): installs FOLDER's package-lock.json once into DIR
# (named after the lockfile's hash) and links FOLDER/node_modules to it.
define npm-lock
	@if [ ! -f "$(1)/.complete" ]; then \
	  rm -rf "$(1)" && mkdir -p "$(1)" && cp $(2)/package.json $(2)/package-lock.json "$(1)/" && \
	  (cd "$(1)" && npm ci --no-audit --no-fund) && touch "$(1)/.complete"; \
	fi
	@[ -L $(2)/node_modules ] || rm -rf $(2)/node_modules
	ln -sfn "$(1)/node_modules" $(2)/node_modules
endef

.PHONY: build run serve test lint unit e2e clients browser widget-screenshots conformance wasm-target wasmtime \
	node client-deps python-deps browser-deps blob-deps conformance-deps chromium clean bench bench-smoke bench-telemetry bench-instructions bench-deps wrk \
	package deploy publish-component deploy-checks musl-target python-components componentize-py \
	typescript-components typescript-deps serve-components wac oci-registry nginx \
	fuzz fuzz-smoke cargo-fuzz soak

## build: the host (release), the test fake, and the weather component, assembled in build/components;
## the Python and TypeScript weather components in build/polyglot/{python,typescript}
build: wasm-target python-components typescript-components serve-components
	$(CARGO) build --release -p mcp-host -p mcp-e2e --bins
	$(CARGO) build -p weather -p conformance -p hostile -p whoami -p rogue --target wasm32-wasip2 --profile guest
	mkdir -p $(COMPONENTS)
	cp $(WEATHER_WASM) $(COMPONENTS)/weather.wasm
	sed 's#https://api.open-meteo.com#$(OPEN_METEO_URL)#g' guest/weather/weather.toml > $(COMPONENTS)/weather.toml
	@ls -l $(COMPONENTS)/weather.wasm | awk '{print "weather.wasm: " $$5 " bytes"}'
	@# Two builds of one test component, for the hot-swap tests.
	mkdir -p $(TEST_COMPONENTS)
	for version in 1 2; do \
	  TOOL_VERSION=$$version $(CARGO) build -p versioned --target wasm32-wasip2 --profile guest; \
	  cp target/wasm32-wasip2/guest/versioned.wasm $(TEST_COMPONENTS)/versioned-v$$version.wasm; \
	done
	@# Builds of a raw-WIT component that misbehaves while it is loaded, one per way.
	for mode in ok spin-tools hang-prompts duplicate huge-catalog many-tools clash; do \
	  LOAD_MODE=$$mode $(CARGO) build -p atload --target wasm32-wasip2 --profile guest; \
	  cp target/wasm32-wasip2/guest/atload.wasm $(TEST_COMPONENTS)/atload-$$mode.wasm; \
	done

## serve-components: the Python and TypeScript weather tools composed (wac) with the HTTP adapter
## (guest/serve-adapter), so that each runs alone under `wasmtime serve`: build/serve/LANG-weather.wasm
serve-components: python-components typescript-components | wac
	$(CARGO) build -p mcp-serve-adapter --target wasm32-wasip2 --profile guest
	mkdir -p $(SERVE_DIR)
	for lang in python typescript; do \
	  $(WAC) plug $(SERVE_ADAPTER) --plug $(POLYGLOT)/$$lang/weather.wasm -o $(SERVE_DIR)/$$lang-weather.wasm; \
	done
	@ls -l $(SERVE_DIR)/*.wasm | awk '{print $$9 ": " $$5 " bytes"}'

# wac (crates.io), which composes components, once per machine; without its registry client
# and WIT resolver, which `wac plug` does not use (a quarter of the build time).
WAC_VERSION := 0.12.0
WAC := $(TOOLS)/wac-cli-$(WAC_VERSION)-plug/bin/wac
wac: $(WAC)
$(WAC):
	$(CARGO) install wac-cli@$(WAC_VERSION) --locked --no-default-features --root $(TOOLS)/wac-cli-$(WAC_VERSION)-plug

## run: serve the weather tool at http://127.0.0.1:$(PORT)/mcp (LANG=python|typescript: that build)
run: build
	$(HOST_BIN) --components $(RUN_COMPONENTS) --cache-dir build/cache --listen 127.0.0.1:$(PORT)

## python-components: the Python weather tool as a components folder, and the hostile Python test tool
python-components: $(PY_WEATHER) $(PY_HOSTILE) $(PY_FEATURES)
	sed 's#https://api.open-meteo.com#$(OPEN_METEO_URL)#g' guest/python/weather/weather.toml > $(POLYGLOT)/python/weather.toml
	@ls -l $(PY_WEATHER) | awk '{print "python/weather.wasm: " $$5 " bytes"}'

# The widget and the skill are the Rust component's files, handed to Python as generated modules.
$(PY_WEATHER): $(PY_SDK) $(wildcard guest/python/weather/*.py) guest/weather/src/widget.html $(WEATHER_SKILL) | componentize-py
	mkdir -p $(POLYGLOT)/python $(POLYGLOT)/python-gen
	python3 -c 'import json, sys; print("# Generated by make from guest/weather/src/widget.html.\nHTML = " + json.dumps(open(sys.argv[1], encoding="utf-8").read()))' \
	  guest/weather/src/widget.html > $(POLYGLOT)/python-gen/weather_widget.py
	python3 -c 'import json, sys; print("# Generated by make from $(WEATHER_SKILL).\nSKILL = " + json.dumps(open(sys.argv[1], encoding="utf-8").read()))' \
	  $(WEATHER_SKILL) > $(POLYGLOT)/python-gen/weather_skill.py
	$(COMPONENTIZE_PY) -w mcp:python/tool@0.1.0 componentize -p guest/python/sdk -p guest/python/weather \
	  -p $(POLYGLOT)/python-gen app -o $@.tmp
	mv $@.tmp $@

$(PY_HOSTILE): $(PY_SDK) tests/hostile-python/app.py | componentize-py
	mkdir -p $(TEST_COMPONENTS)
	$(COMPONENTIZE_PY) -w mcp:python/probe@0.1.0 componentize -p guest/python/sdk -p tests/hostile-python app -o $@.tmp
	mv $@.tmp $@

$(PY_FEATURES): $(PY_SDK) tests/features-python/app.py | componentize-py
	mkdir -p $(TEST_COMPONENTS)
	$(COMPONENTIZE_PY) -w mcp:python/tool@0.1.0 componentize -p guest/python/sdk -p tests/features-python app -o $@.tmp
	mv $@.tmp $@

componentize-py:
	$(call venv,$(COMPONENTIZE_PY_VENV),$(PY_BUILD_REQUIREMENTS))

## typescript-components: the TypeScript weather tool as a components folder
typescript-components: $(TS_WEATHER) $(TS_HOSTILE) $(TS_FEATURES)
	sed 's#https://api.open-meteo.com#$(OPEN_METEO_URL)#g' guest/typescript/weather/weather.toml > $(POLYGLOT)/typescript/weather.toml

$(TS_WEATHER): $(TS_SOURCES) $(WEATHER_SKILL) | typescript-deps
	mkdir -p $(POLYGLOT)/typescript
	$(abspath $(NODE)) guest/typescript/build.mjs guest/typescript/weather/app.ts $@.tmp
	mv $@.tmp $@

$(TS_HOSTILE): $(TS_SOURCES) tests/hostile-typescript/app.ts tests/hostile-typescript/world.wit | typescript-deps
	mkdir -p $(TEST_COMPONENTS)
	$(abspath $(NODE)) guest/typescript/build.mjs tests/hostile-typescript/app.ts $@.tmp tests/hostile-typescript/world.wit
	mv $@.tmp $@

$(TS_FEATURES): $(TS_SOURCES) tests/features-typescript/app.ts | typescript-deps
	mkdir -p $(TEST_COMPONENTS)
	$(abspath $(NODE)) guest/typescript/build.mjs tests/features-typescript/app.ts $@.tmp
	mv $@.tmp $@

typescript-deps: node
	$(call npm-lock,$(TS_DEPS),guest/typescript)

## serve: run the weather component alone under the stock `wasmtime serve` at http://127.0.0.1:$(PORT)/mcp
serve: build wasmtime
	$(WASMTIME) serve -S cli --addr 127.0.0.1:$(PORT) --env OPEN_METEO_URL=$(OPEN_METEO_URL) $(SERVE_WASM)

## test: lint, unit tests, end-to-end tests against the real binary, the official SDK clients,
## the widget in a real browser, the conformance suites, the offline deployment checks, a
## short run of the benchmark (that every figure is produced, not how fast) and of the fuzzers
test: lint build unit e2e clients browser conformance deploy-checks bench-smoke fuzz-smoke

lint: wasm-target
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy -p weather -p conformance -p hostile -p versioned -p whoami -p atload -p rogue -p mcp-guest -p mcp-serve-adapter --target wasm32-wasip2 --profile guest -- -D warnings

unit:
	$(CARGO) test --release -p mcp-protocol -p mcp-host
	$(CARGO) test --release -p weather -p mcp-guest --lib

e2e: build wasmtime blob-deps client-deps python-deps oci-registry nginx
	WASMTIME_BIN=$(WASMTIME) NODE_BIN=$(abspath $(NODE)) DOCKER_REGISTRY_BIN=$(DOCKER_REGISTRY) NGINX_BIN=$(NGINX) \
	  PYTHON_CLIENT_BIN=$(VENV)/bin/python \
	  $(CARGO) test --release -p mcp-e2e

clients: build wasmtime client-deps python-deps
	cd tests/clients && $(abspath $(NODE)) --test ts/*.test.mjs
	cd tests/clients && MCP_SERVER=wasmtime-serve WASMTIME_BIN=$(WASMTIME) $(abspath $(NODE)) --test ts/*.test.mjs
	$(VENV)/bin/python -m unittest discover -s tests/clients/python -v

## browser: the widget in headless Chromium behind both harness hosts, and the status page; screenshots in $(SCREENSHOT_DIR)
browser: build chromium browser-deps
	cd tests/browser && CHROMIUM_BIN=$(CHROMIUM) SCREENSHOT_DIR=$(abspath $(SCREENSHOT_DIR)) $(abspath $(NODE)) --test widget.test.mjs status.test.mjs

## widget-screenshots: refresh the README's screenshots from a browser run
widget-screenshots: browser
	cp $(SCREENSHOT_DIR)/mcp-apps-light.png docs/widget-light.png
	cp $(SCREENSHOT_DIR)/mcp-apps-dark.png docs/widget-dark.png
	cp $(SCREENSHOT_DIR)/status-light.png docs/status-light.png
	cp $(SCREENSHOT_DIR)/status-dark.png docs/status-dark.png

## conformance: the official MCP conformance suites (0.1.16 and 2026-07-28) and the Inspector CLI
conformance: build conformance-deps
	NODE_DIR=$(NODE_DIR)/node_modules/.bin CONFORMANCE_0116=$(CONFORMANCE_0116)/node_modules/.bin \
	CONFORMANCE_2026=$(CONFORMANCE_2026)/node_modules/.bin INSPECTOR=$(INSPECTOR)/node_modules/.bin \
	  tests/conformance/run.sh

conformance-deps: node
	$(call npm-tool,$(CONFORMANCE_0116),@modelcontextprotocol/conformance@0.1.16)
	$(call npm-tool,$(CONFORMANCE_2026),@modelcontextprotocol/conformance@0.2.0-alpha.12)
	$(call npm-tool,$(INSPECTOR),@modelcontextprotocol/inspector@2.12.0)

# Debian's Chromium from apt (Playwright's own browser downloads are never used).
chromium:
	@command -v $(CHROMIUM) >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

oci-registry: $(DOCKER_REGISTRY)
$(DOCKER_REGISTRY):
	@apt-cache show docker-registry=$(DOCKER_REGISTRY_VERSION) >/dev/null 2>&1 || apt-get update
	rm -rf $(DOCKER_REGISTRY_DIR) && mkdir -p $(DOCKER_REGISTRY_DIR)/deb
	cd $(DOCKER_REGISTRY_DIR)/deb && apt-get download docker-registry=$(DOCKER_REGISTRY_VERSION)
	dpkg -x $(DOCKER_REGISTRY_DIR)/deb/docker-registry_*.deb $(DOCKER_REGISTRY_DIR)
	rm -rf $(DOCKER_REGISTRY_DIR)/deb
	$(DOCKER_REGISTRY) --version

nginx: $(NGINX)
$(NGINX):
	rm -rf $(NGINX_DIR) && mkdir -p $(NGINX_DIR)/deb
	cd $(NGINX_DIR)/deb && (apt-get download nginx || (apt-get update && apt-get download nginx))
	dpkg -x $(NGINX_DIR)/deb/nginx_*.deb $(NGINX_DIR)
	rm -rf $(NGINX_DIR)/deb
	$(NGINX) -v

# Azurite and the Azure Storage client, installed once per lockfile and linked into tests/blob.
blob-deps: node
	$(call npm-lock,$(BLOB_DEPS),tests/blob)

# playwright-core, installed once per lockfile and linked into tests/browser.
browser-deps: node
	$(call npm-lock,$(BROWSER_DEPS),tests/browser)

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# Fuzzing (fuzz/, its own workspace, nightly): each target starts from the seeds in
# fuzz/corpus/TARGET and keeps what it finds in build/fuzz/corpus/TARGET; crashes land in
# build/fuzz/artifacts/TARGET. Safe Rust throughout, so no sanitizer: panics, overflows
# (debug assertions) and timeouts are what the targets look for.
FUZZ_TARGETS := protocol_request wit_convert policy_parse
FUZZ_SECONDS ?= 1800
FUZZ_SMOKE_SECONDS := 45
FUZZ_CARGO = PATH=$(dir $(CARGO_FUZZ)):$$PATH $(CARGO) +nightly fuzz
FUZZ_FLAGS := --fuzz-dir fuzz --sanitizer none --debug-assertions
FUZZ_BUILD_FLAGS := $(FUZZ_FLAGS) --features host

# $(call fuzz-run,SECONDS,TARGETS,FLAGS): each target in turn, from its seeds and earlier finds.
define fuzz-run
	for target in $(2); do \
	  mkdir -p build/fuzz/corpus/$$target build/fuzz/artifacts/$$target; \
	  $(FUZZ_CARGO) run $(3) $$target build/fuzz/corpus/$$target fuzz/corpus/$$target -- \
	    -max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	    -artifact_prefix=build/fuzz/artifacts/$$target/ -print_final_stats=1; \
	done
endef

## fuzz-smoke: the protocol target for $(FUZZ_SMOKE_SECONDS) s (part of `make test`). The two
## targets that link the host need wasmtime built with coverage (20-30 min on 2 cores), so they
## run in `make fuzz` only.
fuzz-smoke: cargo-fuzz
	$(FUZZ_CARGO) build $(FUZZ_FLAGS) protocol_request
	$(call fuzz-run,$(FUZZ_SMOKE_SECONDS),protocol_request,$(FUZZ_FLAGS))

## fuzz: every fuzz target for FUZZ_SECONDS (default 1800) each, one after the other
fuzz: cargo-fuzz
	$(FUZZ_CARGO) build $(FUZZ_BUILD_FLAGS)
	$(call fuzz-run,$(FUZZ_SECONDS),$(FUZZ_TARGETS),$(FUZZ_BUILD_FLAGS))

# cargo-fuzz (libFuzzer through the nightly toolchain), for the fuzz targets in fuzz/.
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(TOOLS)/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz
cargo-fuzz: $(CARGO_FUZZ)
$(CARGO_FUZZ):
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	$(CARGO) install cargo-fuzz@$(CARGO_FUZZ_VERSION) --locked --root $(TOOLS)/cargo-fuzz-$(CARGO_FUZZ_VERSION)

# The wasmtime CLI, for `wasmtime serve`: only the features that needs.
wasmtime: $(WASMTIME)
$(WASMTIME):
	$(CARGO) install wasmtime-cli@$(WASMTIME_VERSION) --locked --root $(TOOLS)/wasmtime-$(WASMTIME_VERSION) \
	  --no-default-features --features run,serve,cranelift,pooling-allocator,parallel-compilation,component-model,component-model-async

# Node 22 (the conformance suite and the Inspector need it), from the npm registry.
node:
	$(call npm-tool,$(NODE_DIR),node@22)

# The TypeScript SDK client, installed once per lockfile and linked into tests/clients.
client-deps: node
	$(call npm-lock,$(CLIENT_DEPS),tests/clients)

# The Python SDK client, in a virtualenv per requirements file.
python-deps:
	$(call venv,$(VENV),$(PY_REQUIREMENTS))

## bench: mcp-host + weather.wasm vs the same host with a native tool vs Python FastMCP, on
## loopback against a fake Open-Meteo; the table in build/bench/results.md (and .json)
bench: build bench-deps wasmtime
	$(CARGO) build --release -p mcp-bench
	target/release/mcp-bench --python $(BENCH_VENV)/bin/python --wasmtime-bin $(WASMTIME) --out build/bench
	$(MAKE) --no-print-directory bench-instructions

## bench-telemetry: the cost of OTLP export alone (export off against on, c=16), printed
bench-telemetry: build bench-deps wasmtime
	$(CARGO) build --release -p mcp-bench
	target/release/mcp-bench --telemetry-only --python $(BENCH_VENV)/bin/python --wasmtime-bin $(WASMTIME)

## bench-instructions: the cost of telemetry in instructions a tools/call (callgrind), export off
## against on, which the machine's other load does not move; about 1.5 minutes, in
## build/bench/instructions.txt
INSTRUCTIONS = bench/instructions.sh target/release/mcp-host build/components/weather.wasm target/release/fake-open-meteo
bench-instructions: build
	$(CARGO) build --release -p mcp-e2e --bin fake-open-meteo
	mkdir -p build/bench
	$(INSTRUCTIONS) > build/bench/instructions.txt
	cat build/bench/instructions.txt

## soak: SOAK_SECONDS (default 600) of healthy, hostile and hot-swap load against the release
## binary; host memory and open files every second, a plot and a summary in build/soak
SOAK_SECONDS ?= 600
soak: build
	target/release/soak --seconds $(SOAK_SECONDS) --out build/soak

## bench-smoke: the benchmark, one short run of each figure, in build/bench-smoke
bench-smoke: build bench-deps wasmtime
	$(CARGO) build --release -p mcp-bench
	target/release/mcp-bench --smoke --python $(BENCH_VENV)/bin/python --wasmtime-bin $(WASMTIME) \
	  --out build/bench-smoke
	$(CARGO) build --release -p mcp-e2e --bin fake-open-meteo
	CALLS=5 $(INSTRUCTIONS)

# The FastMCP reference server's virtualenv, and wrk (Debian's).
bench-deps: wrk
	$(call venv,$(BENCH_VENV),$(BENCH_REQUIREMENTS))

wrk:
	@command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)

clean:
	$(CARGO) clean
	rm -rf build tests/clients/node_modules tests/browser/node_modules tests/blob/node_modules

# Azure Functions (Flex Consumption): a portable binary, the package, deployment.
MUSL_TARGET := x86_64-unknown-linux-musl
PORTABLE_HOST_BIN := target/$(MUSL_TARGET)/release/mcp-host
PACKAGE_ZIP := build/mcp-host-functions.zip

## package: the Azure Functions package (host.json, static mcp-host, components and their code
## precompiled for the x86-64-v3 CPU baseline) in $(PACKAGE_ZIP)
package: wasm-target musl-target
	CC_x86_64_unknown_linux_musl=musl-gcc $(CARGO) build --release -p mcp-host --target $(MUSL_TARGET)
	$(CARGO) build -p weather --target wasm32-wasip2 --profile guest
	rm -rf build/precompiled
	target/$(MUSL_TARGET)/release/mcp-precompile --out build/precompiled $(WEATHER_WASM)
	scripts/package.sh --out $(PACKAGE_ZIP) --binary $(PORTABLE_HOST_BIN) --host-json infra/host.json \
	  --component $(WEATHER_WASM):guest/weather/weather.toml --precompiled build/precompiled

## deploy: provision Azure and deploy the package with azd up, then print the MCP URL
deploy: package
	scripts/deploy.sh

## publish-component: upload COMPONENT=path/to/NAME.wasm (and NAME.toml beside it) to the components
## container; with OCI=registry/repository:tag push it to that registry instead, signed with SIGN_KEY if set
publish-component:
	$(if $(OCI),$(CARGO) build --release -p mcp-host --bin mcp-publish)
	scripts/publish-component.sh $(if $(OCI),--oci $(OCI)) $(if $(SIGN_KEY),--sign-key $(SIGN_KEY)) $(COMPONENT)

## deploy-checks: offline checks of the package, the binary, infra/, azure.yaml and an emulated Functions host
deploy-checks: package
	$(CARGO) build --release -p mcp-e2e --bin fake-open-meteo
	TOOLS=$(TOOLS) tests/deploy/check.sh --zip $(PACKAGE_ZIP)

# The musl target, and musl-gcc for the C code of ring, once per machine.
musl-target:
	@rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	@command -v musl-gcc >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y musl-tools)
