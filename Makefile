# The README's commands. Every target runs `setup` first; setup is idempotent and cheap once done.
# Stated once, in the package (the CLI and SDK this release is tested with); a test keeps the pins equal.
PULUMI_VERSION := $(shell sed -n 's/^PULUMI_VERSION = "\(.*\)"$$/\1/p' provider/gemini_tuning/_pulumi_version.py)
PULUMI_YAML_VERSION := 1.25.0
PYTHON ?= python3
SHELL := /bin/bash
ENV := source provider/tools/env.sh &&

.PHONY: setup demo test lint unit integration acceptance bench dist clean

SCAN_SOURCES := $(addprefix provider/scan/,pyproject.toml Cargo.toml Cargo.lock gemini_tuning_scan.pyi) $(wildcard provider/scan/src/*.rs)

setup: .venv/.installed .venv/.scan-installed policies/.venv/.installed
	@mkdir -p .state
	@ln -sfn ../.venv stacks/.venv  # the dynamic-provider shim resolves the venv from the program dir
	@set -o pipefail; bash provider/tools/ensure-pulumi-cli.sh $(PULUMI_VERSION) | tail -n1 > .state/pulumi-bin.tmp && mv .state/pulumi-bin.tmp .state/pulumi-bin
	@# The Pulumi YAML language host, for examples/yaml (the provider plugin); optional.
	@set -o pipefail; bash provider/tools/ensure-pulumi-yaml.sh $(PULUMI_YAML_VERSION) | tail -n1 > .state/pulumi-yaml-bin.tmp && mv .state/pulumi-yaml-bin.tmp .state/pulumi-yaml-bin || { rm -f .state/pulumi-yaml-bin.tmp; echo "[setup] no YAML language host: only examples/yaml needs it" >&2; }

.venv/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + ")")'
	@echo "[setup] creating .venv and installing gemini-tuning with its extras (dev, emulator, plots)"
	@test -x .venv/bin/python || $(PYTHON) -m venv .venv
	@.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,emulator,plots]'
	@touch $@

# The policy pack's own venv (policies/README.md): pulumi-policy pins protobuf <5.30, the Google
# clients need >= 6.33, so it cannot share .venv. `pulumi preview --policy-pack policies/pack`
# runs with it; nothing is installed at preview time.
policies/.venv/.installed: policies/requirements.txt
	@echo "[setup] creating policies/.venv for the policy pack (pulumi-policy)"
	@test -x policies/.venv/bin/python || $(PYTHON) -m venv policies/.venv
	@policies/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r policies/requirements.txt
	@touch $@

# The compiled dataset scanner (Rust, built by maturin through pip; crates from crates.io). Without
# cargo, validation takes the pure-Python path: the same results, about 3x slower.
.venv/.scan-installed: .venv/.installed $(SCAN_SOURCES)
	@if command -v cargo >/dev/null; then \
	  echo "[setup] building the compiled dataset scanner (provider/scan, Rust)"; \
	  if .venv/bin/python -m pip install --quiet --disable-pip-version-check ./provider/scan; then touch $@; \
	  else echo "[setup] building provider/scan failed (above): validation will use the pure-Python path" >&2; fi; \
	else \
	  echo "[setup] cargo not found: dataset validation will use the pure-Python path" >&2; \
	fi

demo: setup
	@$(ENV) bash provider/tools/demo.sh

test: setup
	@$(ENV) $(MAKE) --no-print-directory lint
	@$(ENV) python -m pytest $(PYTEST_ARGS)

lint: setup
	@$(ENV) ruff check . && ruff format --check . && mypy
	@# The rooms and boundaries of ARCHITECTURE.md ([tool.importlinter] in pyproject.toml).
	@$(ENV) lint-imports --no-logo --no-cache
	@# The docs site (mkdocs.yml, docs/): --strict fails on a broken link, a missing page or include.
	@$(ENV) NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir site
	@if command -v cargo >/dev/null; then cd provider/scan && cargo fmt --check && cargo clippy --release --quiet -- -D warnings; fi

unit: setup
	@$(ENV) python -m pytest -m "not engine" $(PYTEST_ARGS)

integration: setup
	@$(ENV) python -m pytest -m engine $(PYTEST_ARGS)

# The acceptance suite (tests/acceptance/_target.py): on Vertex AI with GEMINI_TUNING_LIVE_PROJECT,
# _LOCATION, _BUCKET and _MAX_USD set; on the emulator with GEMINI_TUNING_ACCEPTANCE_TARGET=emulator;
# otherwise one line saying how to enable it.
acceptance: setup
	@$(ENV) skip=$$(python -m tests.acceptance._target) || exit $$?; \
	if [[ -n "$$skip" ]]; then echo "$$skip"; else python -m pytest -m acceptance tests/acceptance -rs $(PYTEST_ARGS); fi

bench: setup
	@$(ENV) for b in bench/*.py; do echo "== $$b"; python "$$b" || exit 1; done

# The wheel and the sdist of the package (plugin included: `pulumi-resource-gemini-tuning`), in
# dist/, built by hatchling from the dev extra. Until the package is on an index, a team installs
# one of these (or a git URL): `gemini-tuning init --package-source dist/gemini_tuning-*.whl`.
dist: setup
	@rm -rf dist && $(ENV) hatchling build -d dist && ls -l dist

clean:
	rm -rf .state .venv policies/.venv .pytest_cache .mypy_cache .ruff_cache provider/scan/target dist site
