"""A Python tool component that tries what the sandbox must stop: the host's
files, its network (raw WASI sockets and Python's own `socket`), its
environment, and hosts outside its policy. The same probes, answering in the
same shapes, as the Rust `tests/hostile`; built by `make build` for the
sandbox tests, never deployed."""

import json
import os

from mcp_tool import env, environ, http, tool
from wit_world.imports import instance_network, ip_name_lookup, network, preopens, tcp_create_socket
from wit_world.imports import udp_create_socket
from componentize_py_types import Err


def _outcome(attempt) -> str:
    try:
        attempt()
    except Exception as error:  # noqa: BLE001 (every refusal is the answer)
        return f"error: {error}"
    return "ok"


def _code(attempt) -> dict:
    """`{"Ok": "ok"}` or `{"Err": "access-denied"}`, as the Rust probe reports."""
    try:
        attempt()
    except Err as error:
        return {"Err": error.value.name.lower().replace("_", "-")}
    return {"Ok": "ok"}


@tool
def files() -> str:
    """Tries to read, write and list the host's files."""
    def write():
        with open("/tmp/hostile", "w") as file:
            file.write("x")

    return json.dumps({
        "preopens": len(preopens.get_directories()),
        "read": _outcome(lambda: open("/etc/passwd").read()),
        "write": _outcome(write),
        "list": _outcome(lambda: os.listdir("/")),
    })


@tool
def sockets(address: str = "") -> str:
    """Tries TCP, UDP and DNS, raw and through Python's socket module, to `address`."""
    def lookup():
        with ip_name_lookup.resolve_addresses(instance_network.instance_network(), "localhost") as stream:
            stream.subscribe().block()
            stream.resolve_next_address()

    def connect():
        import socket

        host, port = address.rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=2).close()

    return json.dumps({
        "tcp": _code(lambda: tcp_create_socket.create_tcp_socket(network.IpAddressFamily.IPV4)),
        "udp": _code(lambda: udp_create_socket.create_udp_socket(network.IpAddressFamily.IPV4)),
        "lookup": _code(lookup),
        "connect": _outcome(connect),
    })


@tool(name="env")
def env_vars() -> str:
    """Reports every environment variable it can see, through WASI and os.environ."""
    return json.dumps({"wasi": sorted(environ().items()), "os": sorted(os.environ.items()),
                       "VISIBLE": env("VISIBLE")})


@tool
def fetch(url: str, times: int = 1) -> str:
    """GETs `url` `times` times and reports what happened."""
    outcomes = []
    for _ in range(times):
        try:
            response = http.get(url, 30, 64 << 20)
            outcomes.append(f"HTTP {response.status} ({len(response.body)} bytes)")
        except http.FetchError as error:
            outcomes.append(f"failed: {error}")
    return "\n".join(outcomes)


@tool
def allocate() -> str:
    """Allocates memory until it fails."""
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


@tool
def spin() -> str:
    """Loops forever."""
    while True:
        pass


from mcp_tool.exports import *  # noqa: E402,F401,F403
