#!/usr/bin/env bash
# Offline checks of the Azure Functions deployment: the package's layout and modes, the
# binary's portability, host.json, the Bicep (parsed with pycep-parser), azure.yaml, the
# deploy scripts (dry run), and an emulation of the Functions host running the package.
#
#   tests/deploy/check.sh [--zip build/mcp-host-functions.zip] [--fake target/release/fake-open-meteo]
#
# Needs `make package` and `make build` (for the fake Open-Meteo API) first. Installs its
# Python dependencies once, into $TOOLS/venv-deploy-<hash of requirements.txt>
# (TOOLS defaults to ~/.cache/mcp-wasm-tools). Nothing here reaches Azure or the internet
# beyond PyPI on first use; servers listen on 127.0.0.1 only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${TOOLS:-$HOME/.cache/mcp-wasm-tools}"
venv="$tools/venv-deploy-$(sha256sum "$here/requirements.txt" | cut -c1-16)"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.complete"
fi
exec "$venv/bin/python" "$here/check.py" "$@"
