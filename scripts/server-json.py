#!/usr/bin/env python3
"""Writes the MCP Registry entry (server.json) for a deployed endpoint: a
remote-only listing of its Streamable HTTP URL. Usage: server-json.py URL [NAME]
> server.json. NAME (MCP_REGISTRY_NAME in `make deploy`) is the registry's
reverse-DNS name, which the registry verifies through GitHub or the domain;
it defaults to the URL's host reversed (func-mcp-x.azurewebsites.net ->
net.azurewebsites.func-mcp-x/weather)."""
import json
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
ROOT = Path(__file__).resolve().parent.parent


def main(url, name=None):
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path != "/mcp":
        sys.exit(f"server-json: {url!r} is not a public https://HOST/mcp URL")
    if not name:
        name = ".".join(reversed(parts.hostname.split("."))) + "/weather"
    if not re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", name):
        sys.exit(f"server-json: {name!r} is not a reverse-DNS registry name (like io.github.you/weather)")
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    entry = {
        "$schema": SCHEMA,
        "name": name,
        "title": "Current weather",
        "description": "Current weather anywhere (Open-Meteo), with a widget; tools run as sandboxed Wasm components.",
        "version": version,
        "remotes": [{"type": "streamable-http", "url": url}],
    }
    json.dump(entry, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
