#!/usr/bin/env bash
# The official MCP conformance suite, both protocol generations, against the
# real mcp-host running the fixture component; then the MCP Inspector CLI
# against the weather tool in its legacy and modern protocol modes.
# Run by `make conformance`, which installs the tools and sets these variables.
set -euo pipefail
: "${NODE_DIR:?}" "${CONFORMANCE_0116:?}" "${CONFORMANCE_2026:?}" "${INSPECTOR:?}"
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/tests/conformance"
host_bin=${MCP_HOST_BIN:-$repo/target/release/mcp-host}
fake_bin=${FAKE_OPEN_METEO_BIN:-$repo/target/release/fake-open-meteo}
wasm_dir=${GUEST_DIR:-$repo/target/wasm32-wasip2/guest}
export PATH="$NODE_DIR:$PATH"

work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Waits up to 60 s for a line matching $2 in log $1 and prints the match.
await_line() {
  for _ in $(seq 600); do
    if line=$(grep -m1 -oE "$2" "$1"); then echo "$line"; return; fi
    sleep 0.1
  done
  echo "no line matching '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

# Starts mcp-host on a free port with the components in $1; sets `url` to its
# MCP endpoint. (Not run in a subshell, so that cleanup knows the process.)
start_host() {
  "$host_bin" --components "$1" --cache-dir "$work/code" --listen 127.0.0.1:0 > "$1.log" 2>&1 &
  pids+=($!)
  url="http://$(await_line "$1.log" 'addr=127\.0\.0\.1:[0-9]+' | cut -d= -f2)/mcp"
  await_line "$1.log" ' ready ' > /dev/null
}

echo "== conformance fixtures on mcp-host"
mkdir -p "$work/fixtures"
cp "$wasm_dir/conformance.wasm" "$work/fixtures/"
# test_trigger_tool_change and test_trigger_prompt_change ask this helper to
# publish the fixtures' next generation (a new policy), which the host swaps in.
python3 "$here/swap-trigger.py" "$work/fixtures" > "$work/trigger.log" &
pids+=($!)
await_line "$work/trigger.log" 'http://127\.0\.0\.1:[0-9]+/next' > /dev/null
start_host "$work/fixtures"

echo "== @modelcontextprotocol/conformance 0.1.16, active server suite (2025-11-25)"
(cd "$work" && "$CONFORMANCE_0116/conformance" server --url "$url" \
  --expected-failures "$here/expected-failures-0.1.16.yml") | tee "$work/0.1.16.log" | grep -E '^(✓|✗|Total)|Baseline|Unexpected|Stale' 

echo "== @modelcontextprotocol/conformance 0.2.0-alpha.12, --requirements 2026-07-28"
(cd "$work" && "$CONFORMANCE_2026/conformance" server --url "$url" --requirements 2026-07-28 \
  --expected-failures "$here/expected-failures-2026-07-28.yml") | tee "$work/2026.log" | grep -E '^(✓|✗|Total)|Baseline|Unexpected|Stale'

echo "== MCP Inspector CLI against the weather tool"
"$fake_bin" 127.0.0.1:0 > "$work/fake.log" &
pids+=($!)
api=$(await_line "$work/fake.log" 'http://127\.0\.0\.1:[0-9]+')
mkdir -p "$work/weather"
cp "$wasm_dir/weather.wasm" "$work/weather/"
printf '[outbound]\nallow = ["%s"]\n[env]\nvars = { OPEN_METEO_URL = "%s" }\n' "$api" "$api" > "$work/weather/weather.toml"
start_host "$work/weather"
for era in legacy modern; do
  listed=$(cd "$work" && "$INSPECTOR/mcp-inspector" --cli "$url" --protocol-era "$era" --method tools/list --format json -q)
  grep -q '"name":"get_current_weather"' <<< "$listed" || { echo "inspector ($era): tool not listed: $listed" >&2; exit 1; }
  called=$(cd "$work" && "$INSPECTOR/mcp-inspector" --cli "$url" --protocol-era "$era" --method tools/call \
    --tool-name get_current_weather --tool-arg latitude=52.52 longitude=13.41 --format json -q)
  grep -q '"temperature":6.3' <<< "$called" || { echo "inspector ($era): unexpected call result: $called" >&2; exit 1; }
  if [ "$era" = modern ]; then
    grep -q 'io.modelcontextprotocol/serverInfo' <<< "$called" || { echo "inspector (modern) did not use 2026-07-28: $called" >&2; exit 1; }
  fi
  echo "inspector ($era): listed and called get_current_weather"
done
echo "conformance: 2 passed, 0 failed"
