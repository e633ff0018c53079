#!/usr/bin/env bash
# The cost of telemetry in instructions, which the machine's other load does not
# move: mcp-host runs under valgrind's callgrind, serving the Rust weather tool
# against the loopback fake Open-Meteo, and the instructions of CALLS sequential
# tools/call (after a warm-up) are counted with OTLP export off, on (every span),
# on with 1 trace in 10 sampled, and on with none sampled. Prints instructions a
# call for each and on ÷ off. About a minute and a half; valgrind is Debian's.
# At valgrind's pace the metric export each second weighs more a call than at
# full speed, so "on" is a little high.
#
# usage: bench/instructions.sh HOST_BIN WEATHER_WASM FAKE_BIN
set -euo pipefail
host_bin=$1 wasm=$2 fake_bin=$3
calls=${CALLS:-200}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
command -v valgrind >/dev/null ||
  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind)

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The forecast upstream, and an OTLP/HTTP receiver that takes every export.
fake_port=$(port)
"$fake_bin" "127.0.0.1:$fake_port" >/dev/null &
pids+=($!)
otlp_port=$(port)
python3 - "$otlp_port" <<'EOF' &
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
EOF
pids+=($!)

# Two instances at most: valgrind cannot reserve the default pool's address space.
mkdir "$work/components"
cp "$wasm" "$work/components/weather.wasm"
cat >"$work/components/weather.toml" <<EOF
[outbound]
allow = ["http://127.0.0.1:$fake_port"]
[env]
vars = { OPEN_METEO_URL = "http://127.0.0.1:$fake_port" }
[limits]
max_concurrent = 2
EOF

body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}}'
post() {
  curl -sf -o "$work/answer.json" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-06-18' \
    -d "$body" "http://127.0.0.1:$1/mcp"
}

# Instructions a call of one configuration (environment assignments as arguments).
measure() {
  local label=$1 listen
  shift
  listen=$(port)
  env RUST_LOG=warn MCP_MAX_INSTANCES=2 "$@" \
    valgrind --tool=callgrind --smc-check=all --instr-atstart=no --callgrind-out-file="$work/$label.out" \
    "$host_bin" --components "$work/components" --listen "127.0.0.1:$listen" \
    --cache-dir "$work/cache" >"$work/$label.log" 2>&1 &
  local host=$!
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$listen/status" && break
    kill -0 "$host" 2>/dev/null || break
    sleep 0.2
  done
  curl -sf -o /dev/null "http://127.0.0.1:$listen/status" ||
    { echo "$label: the host did not start: $(tail -5 "$work/$label.log")" >&2; exit 1; }
  for _ in $(seq 20); do post "$listen"; done
  # Spans of the warm-up are exported before counting starts.
  sleep 2
  callgrind_control --instr=on "$host" >/dev/null 2>&1
  for _ in $(seq "$calls"); do post "$listen"; done
  grep -q '"result"' "$work/answer.json" || { echo "no tool result: $(cat "$work/answer.json")" >&2; exit 1; }
  # What was still batched is exported (the schedule is 1 s) before the dump.
  sleep 2
  callgrind_control --dump "$host" >/dev/null 2>&1
  kill "$host"
  wait "$host" 2>/dev/null || true
  local total
  total=$({ cat "$work/$label".out.* 2>/dev/null || true; } | sed -n 's/^summary: //p' | awk '{ s += $1 } END { print s + 0 }')
  [ "$total" -gt 0 ] || { echo "$label: callgrind counted nothing: $(tail -5 "$work/$label.log")" >&2; exit 1; }
  echo $((total / calls))
}

on=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port" OTEL_METRIC_EXPORT_INTERVAL=1000
  OTEL_BSP_SCHEDULE_DELAY=1000 OTEL_BSP_MAX_QUEUE_SIZE=65536)
off=$(measure off)
echo "instructions a tools/call, export off: $off"
for run in "every span:" "1 trace in 10:OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1" \
  "no trace sampled:OTEL_TRACES_SAMPLER=always_off"; do
  label=${run%%:*} settings=${run#*:}
  # shellcheck disable=SC2086 # the settings are words on purpose
  count=$(measure "on-${label// /-}" "${on[@]}" $settings)
  echo "instructions a tools/call, export on, $label $count ($(awk -v a="$count" -v b="$off" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }'))"
done
