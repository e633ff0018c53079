#!/usr/bin/env bash
# Uploads a tool component and its policy to the deployed app's components container:
#
#   scripts/publish-component.sh path/to/NAME.wasm      (make publish-component COMPONENT=...)
#
# Uploads NAME.toml, the policy beside NAME.wasm (none: no outbound access and no
# environment) with the wasm's sha256 pinned in it, then NAME.wasm, as blobs of the same
# names, with `az storage blob upload --auth-mode login`: your Entra sign-in (az login), no
# account key. `make deploy` gives the deploying principal Storage Blob Data Contributor on
# the container.
#
# The pin pairs the two uploads: every instance of mcp-host (polling the container) keeps
# serving the previous version until it sees this policy and this wasm together, then
# switches. A poll between the two uploads logs a pin mismatch and changes nothing.
#
# The storage account and container come from the azd environment (outputs of
# infra/main.bicep), or from AZURE_STORAGE_ACCOUNT_NAME and COMPONENTS_CONTAINER_NAME.
# DRY_RUN=1 prints the commands instead of running them.
#
# The components in the container override those of the same name packed in the app's zip.
# Check what each instance serves at /status.
#
# To an OCI registry instead (make publish-component COMPONENT=... OCI=... [SIGN_KEY=...]):
#
#   scripts/publish-component.sh --oci registry[:port]/repository:tag [--sign-key KEY.pem] NAME.wasm
#
# pushes the wasm alone (the layout wkg and wassette use) with mcp-publish (MCP_PUBLISH_BIN,
# default target/release/mcp-publish), signed cosign-style with the PKCS#8 PEM ECDSA P-256 key
# if one is given, and prints the manifest digest. The policy stays with the operator:
# NAME.toml goes in the host's folder or container, not to the registry. MCP_OCI_INSECURE,
# MCP_OCI_CA_FILE, MCP_OCI_USERNAME and MCP_OCI_PASSWORD reach the registry as for the host.
set -euo pipefail

die() { echo "publish-component: $*" >&2; exit 1; }

oci="" sign_key=""
while [ $# -gt 0 ]; do
  case "$1" in
    --oci) oci="${2:-}"; shift 2 ;;
    --sign-key) sign_key="${2:-}"; shift 2 ;;
    *) break ;;
  esac
done
[ -z "$sign_key" ] || [ -n "$oci" ] || die "--sign-key signs OCI pushes only (add --oci)"

wasm="${1:-}"
[ -n "$wasm" ] || die "usage: $0 [--oci REF [--sign-key KEY.pem]] path/to/NAME.wasm (or make publish-component COMPONENT=...)"
[ -f "$wasm" ] || die "$wasm: no such file"
case "$wasm" in *.wasm) ;; *) die "$wasm: expected a .wasm file" ;; esac
name=$(basename "$wasm" .wasm)
[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || die "$name: component names are letters, digits, '-' and '_'"

# \0asm, then the component-model layer (version 0x0d, layer 1): not a core module.
head=$(head -c 8 "$wasm" | od -An -tx1 | tr -d ' \n')
[ "${head:0:8}" = "0061736d" ] || die "$wasm is not WebAssembly"
[ "${head:12:4}" = "0100" ] || die "$wasm is a core module, not a component (build it for wasm32-wasip2)"

if [ -n "$oci" ]; then
  publish="${MCP_PUBLISH_BIN:-$(dirname "$0")/../target/release/mcp-publish}"
  [ -x "$publish" ] || die "$publish not found: cargo build --release -p mcp-host --bin mcp-publish"
  exec "$publish" --oci "$oci" ${sign_key:+--sign-key "$sign_key"} "$wasm"
fi

policy="${wasm%.wasm}.toml"
manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
digest=$(sha256sum "$wasm" | cut -c1-64)
{
  echo "sha256 = \"$digest\""
  if [ -f "$policy" ]; then
    grep -v '^sha256 *=' "$policy" || true
  else
    echo "publish-component: no $policy: $name will get no outbound access and no environment" >&2
  fi
} >"$manifest"

azd_value() {
  command -v azd >/dev/null || return 0
  azd env get-value "$1" 2>/dev/null || true
}
account="${AZURE_STORAGE_ACCOUNT_NAME:-$(azd_value AZURE_STORAGE_ACCOUNT_NAME)}"
container="${COMPONENTS_CONTAINER_NAME:-$(azd_value COMPONENTS_CONTAINER_NAME)}"
[ -n "$account" ] || die "no storage account: run make deploy first, or set AZURE_STORAGE_ACCOUNT_NAME"
[ -n "$container" ] || container=components

run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@"; echo
  else
    "$@"
  fi
}

if [ "${DRY_RUN:-0}" != 1 ]; then
  command -v az >/dev/null || die "needs the Azure CLI (az): https://learn.microsoft.com/cli/azure/install-azure-cli"
fi

upload() { # FILE BLOB CONTENT-TYPE
  run az storage blob upload --auth-mode login --account-name "$account" --container-name "$container" \
    --file "$1" --name "$2" --content-type "$3" --overwrite --only-show-errors --output none
}

upload "$manifest" "$name.toml" "application/toml"
upload "$wasm" "$name.wasm" "application/wasm"
echo "published $name (sha256 $digest) to https://$account.blob.core.windows.net/$container/"
