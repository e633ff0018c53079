#!/usr/bin/env python3
"""The conformance run's swap trigger: each GET writes the next generation of
the fixture component's policy (FIXTURE_GENERATION + 1) into the components
folder, whole (a temporary file beside it, then a rename), so that mcp-host swaps the
component in as it would any new version, and its tool and prompt lists
change. Usage: swap-trigger.py FOLDER; prints its URL, then serves on loopback."""
import http.server
import os
import sys
import threading

folder = sys.argv[1]
lock = threading.Lock()
generation = 0


def write_policy(url):
    global generation
    generation += 1
    policy = (
        f'[outbound]\nallow = ["{url.rsplit("/", 1)[0]}"]\n'
        f'[env]\nvars = {{ FIXTURE_GENERATION = "{generation}", SWAP_TRIGGER_URL = "{url}" }}\n'
    )
    temporary = os.path.join(os.path.dirname(os.path.abspath(folder)), "conformance.toml.tmp")
    with open(temporary, "w") as f:
        f.write(policy)
    os.rename(temporary, os.path.join(folder, "conformance.toml"))


class Trigger(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            write_policy(url)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trigger)
url = f"http://127.0.0.1:{server.server_address[1]}/next"
write_policy(url)
print(url, flush=True)
server.serve_forever()
