#!/usr/bin/env bash
# `make deploy`: provisions infra/main.bicep and deploys build/mcp-host-functions.zip with
# `azd up`, then prints the MCP URL and checks that it answers MCP.
#
# First run: AZURE_ENV_NAME, AZURE_LOCATION and AZURE_SUBSCRIPTION_ID name the azd
# environment to create (later runs reuse it; AZURE_ENV_NAME alone selects it, and without
# it the default environment is used). Optional settings, remembered in the environment:
# VNET_ENABLED, STORAGE_ALLOWED_IP_ADDRESSES, MCP_ALLOWED_ORIGINS, ALWAYS_READY_INSTANCES,
# MAXIMUM_INSTANCE_COUNT, INSTANCE_MEMORY_MB (see infra/main.bicep). It writes the MCP
# Registry entry for the endpoint to build/server.json (name: MCP_REGISTRY_NAME, default
# the host name reversed).
# DRY_RUN=1 prints the azd commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "deploy: $*" >&2; exit 1; }
dry() { [ "${DRY_RUN:-0}" = 1 ]; }
run() {
  if dry; then printf '%q ' "$@"; echo; else "$@"; fi
}

if ! dry; then
  command -v azd >/dev/null ||
    die "needs the Azure Developer CLI (azd >= 1.20): https://aka.ms/azd-install"
  azd auth login --check-status --output json | grep -q '"status": *"success"' ||
    die "not signed in: run 'azd auth login' (and 'az login' for make publish-component)"
fi
[ -f build/mcp-host-functions.zip ] || dry || die "no package: run make package"

# The azd environment: select it, or create it on the first run.
if [ -n "${AZURE_ENV_NAME:-}" ]; then
  if dry || ! azd env select "$AZURE_ENV_NAME" >/dev/null 2>&1; then
    if ! dry && { [ -z "${AZURE_LOCATION:-}" ] || [ -z "${AZURE_SUBSCRIPTION_ID:-}" ]; }; then
      die "new environment $AZURE_ENV_NAME: also set AZURE_LOCATION (e.g. eastus2) and AZURE_SUBSCRIPTION_ID"
    fi
    dry && echo "# first run only:"
    run azd env new "$AZURE_ENV_NAME" --location "${AZURE_LOCATION:-}" --subscription "${AZURE_SUBSCRIPTION_ID:-}"
  fi
elif ! dry && ! azd env get-value AZURE_ENV_NAME >/dev/null 2>&1; then
  die "no azd environment yet: set AZURE_ENV_NAME, AZURE_LOCATION and AZURE_SUBSCRIPTION_ID"
fi

for key in VNET_ENABLED STORAGE_ALLOWED_IP_ADDRESSES MCP_ALLOWED_ORIGINS ALWAYS_READY_INSTANCES \
  MAXIMUM_INSTANCE_COUNT INSTANCE_MEMORY_MB; do
  if [ -n "${!key+set}" ]; then run azd env set "$key" "${!key}"; fi
done

# Provision (idempotent) and deploy; the service's prepackage hook runs `make package`.
run azd up --no-prompt

if dry; then
  echo "azd env get-value MCP_URL"
  echo "scripts/server-json.py \$MCP_URL ${MCP_REGISTRY_NAME:-} > build/server.json"
  exit 0
fi
url=$(azd env get-value MCP_URL)
# The MCP Registry entry for this endpoint, for `mcp-publisher publish` (optional).
mkdir -p build
scripts/server-json.py "$url" "${MCP_REGISTRY_NAME:-}" > build/server.json

# The first request after a deployment may wait for a cold start.
echo "checking $url ..."
body='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"make-deploy","version":"1"}}}'
for attempt in $(seq 1 24); do
  if answer=$(curl -fsS --max-time 30 -X POST "$url" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' --data "$body" 2>/dev/null) &&
    grep -q '"serverInfo"' <<<"$answer"; then
    echo "MCP server answered initialize: $(grep -o '"serverInfo":{[^}]*}' <<<"$answer")"
    break
  fi
  [ "$attempt" -lt 24 ] || die "$url did not answer initialize within 4 minutes; see its logs in Application Insights (traces)"
  sleep 10
done

cat <<EOF

MCP server: $url
MCP Registry entry: build/server.json
ChatGPT: Settings -> Apps & Connectors -> Advanced settings -> Developer mode on, then
Create: MCP server URL $url, authentication "No authentication".
EOF
