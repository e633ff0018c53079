#!/usr/bin/env bash
# Builds the Azure Functions custom-handler package: a zip with host.json, the mcp-host
# executable (mode 0755) and the tool components, exactly as Flex Consumption runs it.
#
#   scripts/package.sh --out build/mcp-host-functions.zip \
#     --binary target/x86_64-unknown-linux-musl/release/mcp-host \
#     --host-json infra/host.json \
#     --component target/wasm32-wasip2/guest/weather.wasm:guest/weather/weather.toml
#
# --component WASM[:POLICY] adds components/NAME.wasm and, from POLICY (default: NAME.toml
# beside the .wasm), components/NAME.toml. --components DIR adds every DIR/NAME.wasm with
# its DIR/NAME.toml. --precompiled DIR adds precompiled/SHA256.cwasm from DIR for every
# component (written by mcp-precompile; required when host.json passes --precompiled).
# The binary is stripped of debug info (--keep-debug keeps it).
#
# The zip is deterministic: entries sorted, fixed timestamps (SOURCE_DATE_EPOCH, default
# 1980-01-01), Unix modes recorded ("created by Unix"): 0755 for the binary and folders,
# 0644 for everything else. Only python3's standard library is needed.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

out="" binary="" host_json="" precompiled="" keep_debug=0
components=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --host-json) host_json="$2"; shift 2 ;;
    --component) components+=("file:$2"); shift 2 ;;
    --components) components+=("dir:$2"); shift 2 ;;
    --precompiled) precompiled="$2"; shift 2 ;;
    --keep-debug) keep_debug=1; shift ;;
    -h|--help) usage ;;
    *) echo "package.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$out" ] && [ -n "$binary" ] && [ -n "$host_json" ] && [ ${#components[@]} -gt 0 ] || usage

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

[ "$(head -c 4 "$binary" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] ||
  { echo "package.sh: $binary is not an ELF executable" >&2; exit 1; }

# The executable, without debug sections (smaller download on every cold start).
cp "$binary" "$stage/mcp-host"
if [ "$keep_debug" = 0 ] && command -v objcopy >/dev/null; then
  objcopy --strip-debug "$stage/mcp-host"
fi

python3 - "$out" "$stage/mcp-host" "$host_json" "$precompiled" "${components[@]}" <<'PY'
import hashlib, json, os, sys, time, zipfile
from pathlib import Path

out, binary, host_json, precompiled, *specs = sys.argv[1:]

def fail(message):
    sys.exit(f"package.sh: {message}")

# name in the zip -> (source path, mode)
entries = {}

data = Path(binary).read_bytes()
if data[:4] != b"\x7fELF":
    fail(f"{binary} is not an ELF executable")
entries["mcp-host"] = (binary, 0o755)

host = json.loads(Path(host_json).read_text())
exe = host.get("customHandler", {}).get("description", {}).get("defaultExecutablePath")
if exe != "mcp-host":
    fail(f"{host_json}: customHandler.description.defaultExecutablePath is {exe!r}, expected 'mcp-host'")
entries["host.json"] = (host_json, 0o644)
wants_precompiled = "--precompiled" in host.get("customHandler", {}).get("description", {}).get("arguments", [])
if wants_precompiled and not precompiled:
    fail(f"{host_json} passes --precompiled: give --precompiled DIR (make package runs mcp-precompile)")

def add_component(wasm, policy):
    wasm, name = Path(wasm), Path(wasm).stem
    head = wasm.read_bytes()[:8]
    # \0asm, then the component-model layer (version 0x0d, layer 1), not a core module.
    if head[:4] != b"\0asm" or head[6:8] != b"\x01\x00":
        fail(f"{wasm} is not a WebAssembly component")
    entries[f"components/{name}.wasm"] = (str(wasm), 0o644)
    if precompiled:
        code = Path(precompiled) / f"{hashlib.sha256(wasm.read_bytes()).hexdigest()}.cwasm"
        if not code.is_file():
            fail(f"{code}, the precompiled {wasm}, not found (mcp-precompile --out {precompiled} {wasm})")
        entries[f"precompiled/{code.name}"] = (str(code), 0o644)
    if policy is not None:
        if not Path(policy).is_file():
            fail(f"policy {policy} of {wasm} not found")
        entries[f"components/{name}.toml"] = (str(policy), 0o644)

for spec in specs:
    kind, _, value = spec.partition(":")
    if kind == "dir":
        found = sorted(Path(value).glob("*.wasm"))
        if not found:
            fail(f"no .wasm in {value}")
        for wasm in found:
            policy = wasm.with_suffix(".toml")
            add_component(wasm, policy if policy.is_file() else None)
    else:
        wasm, _, policy = value.partition(":")
        add_component(wasm, policy or Path(wasm).with_suffix(".toml"))

epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01T00:00:00Z
stamp = time.gmtime(max(epoch, 315532800))[:6]

def info(name, mode, is_dir=False):
    zi = zipfile.ZipInfo(name, date_time=stamp)
    zi.create_system = 3  # Unix: the high 16 bits of external_attr hold st_mode
    zi.external_attr = (((0o040000 if is_dir else 0o100000) | mode) << 16) | (0x10 if is_dir else 0)
    zi.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
    return zi

Path(out).parent.mkdir(parents=True, exist_ok=True)
tmp = f"{out}.tmp"
folders = ["components/", *(["precompiled/"] if precompiled else [])]
names = sorted([*folders, *entries])
with zipfile.ZipFile(tmp, "w") as z:
    for name in names:
        if name in folders:
            z.writestr(info(name, 0o755, is_dir=True), b"")
        else:
            source, mode = entries[name]
            z.writestr(info(name, mode), Path(source).read_bytes(), compresslevel=9)
os.replace(tmp, out)

for name in names:
    mode = 0o755 if name in folders else entries[name][1]
    size = 0 if name in folders else Path(entries[name][0]).stat().st_size
    print(f"  {mode:04o} {size:>10}  {name}")
print(f"{out}: {Path(out).stat().st_size} bytes")
PY
