"""End-to-end: the official Python MCP SDK client against mcp-host running the
weather component, with Open-Meteo replaced by fake-open-meteo."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest
from contextlib import asynccontextmanager
from pathlib import Path

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

REPO = Path(__file__).resolve().parents[3]  # tests/clients/python -> repo root
MCP_HOST_BIN = os.environ.get("MCP_HOST_BIN", str(REPO / "target/release/mcp-host"))
FAKE_BIN = os.environ.get("FAKE_OPEN_METEO_BIN", str(REPO / "target/release/fake-open-meteo"))
WEATHER_WASM = os.environ.get("WEATHER_WASM", str(REPO / "target/wasm32-wasip2/guest/weather.wasm"))
FIXTURE = REPO / "tests/fixtures/open-meteo/01-current-berlin-timezone-auto.json"

WIDGET_URI = "ui://widget/current-weather.html"  # ChatGPT's template (skybridge)
MCP_APP_URI = "ui://widget/current-weather.mcp-app.html"  # the same widget for MCP Apps hosts
SKILL_URI = "skill://current-weather/SKILL.md"  # the Skills extension's SKILL.md
STARTUP_S = 20.0
REQUEST_S = 20.0  # per MCP request


class LoggedProcess:
    """A child whose merged output is drained by a thread (a full pipe would
    block its logging) and kept for wait_for and failure messages."""

    def __init__(self, *cmd: str):
        self.cmd = cmd
        self.lines: list[str] = []
        self.eof = False
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            encoding="utf-8", errors="replace",
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = STARTUP_S) -> re.Match:
        """First output line matching `pattern`; fails if the process exits or stays silent."""
        rx = re.compile(pattern)

        def match_or_eof():
            return next(filter(None, map(rx.search, self.lines)), None) or self.eof

        with self.cond:
            found = self.cond.wait_for(match_or_eof, timeout)
        if isinstance(found, re.Match):
            return found
        raise AssertionError(
            f"{self.cmd[0]}: no line matching {pattern!r} within {timeout} s "
            f"(exit code {self.proc.poll()}); output:\n" + "\n".join(self.lines)
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class WeatherOverMcp(unittest.IsolatedAsyncioTestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails half-way (LIFO order).
        cls.fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
        tmp = Path(tempfile.mkdtemp(prefix="mcp-weather-py-"))
        cls.addClassCleanup(shutil.rmtree, tmp, ignore_errors=True)

        fake = LoggedProcess(FAKE_BIN, "127.0.0.1:0")
        cls.addClassCleanup(fake.stop)
        fake_url = fake.wait_for(r"listening on (http://127\.0\.0\.1:\d+)")[1]

        # The policy is the only way the sandboxed component may reach the fake.
        shutil.copyfile(WEATHER_WASM, tmp / "weather.wasm")
        (tmp / "weather.toml").write_text(
            f'[outbound]\nallow = ["{fake_url}"]\n[env]\nvars = {{ OPEN_METEO_URL = "{fake_url}" }}\n',
            encoding="utf-8",
        )

        host = LoggedProcess(MCP_HOST_BIN, "--components", str(tmp), "--listen", "127.0.0.1:0")
        cls.addClassCleanup(host.stop)
        addr = host.wait_for(r"MCP endpoint at /mcp addr=(127\.0\.0\.1:\d+)")[1]
        host.wait_for(r" ready ")
        cls.url = f"http://{addr}/mcp"

    # Each test opens its own session inside the test task: anyio task groups
    # must be exited by the task that entered them, so asyncSetUp can't hold one.
    @asynccontextmanager
    async def session(self):
        async with streamable_http_client(self.url) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=REQUEST_S) as session:
                self.init = await session.initialize()
                yield session

    @staticmethod
    def text_of(result) -> str:
        return next(c.text for c in result.content if isinstance(c, TextContent))

    async def test_initialize_reports_server_info_and_capabilities(self):
        async with self.session():
            self.assertTrue(self.init.server_info.name)
            self.assertTrue(self.init.server_info.version)
            self.assertTrue(self.init.protocol_version)
            self.assertIsNotNone(self.init.capabilities.tools)
            self.assertIsNotNone(self.init.capabilities.resources)

    async def test_lists_weather_tool(self):
        async with self.session() as session:
            tools = {t.name: t for t in (await session.list_tools()).tools}
        self.assertIn("get_current_weather", tools)
        tool = tools["get_current_weather"]
        self.assertEqual(tool.input_schema["type"], "object")
        self.assertIn("latitude", tool.input_schema["properties"])
        self.assertIn("longitude", tool.input_schema["properties"])
        self.assertIs(tool.annotations.read_only_hint, True)
        self.assertEqual(tool.meta["openai/outputTemplate"], WIDGET_URI)
        self.assertEqual(tool.meta["ui"]["resourceUri"], MCP_APP_URI)
        self.assertEqual(tool.meta["ui"]["visibility"], ["model", "app"])
        self.assertIs(tool.meta["openai/widgetAccessible"], True)

    async def test_call_returns_fixture_observation(self):
        async with self.session() as session:
            result = await session.call_tool("get_current_weather", {"latitude": 52.52, "longitude": 13.41})
        self.assertFalse(result.is_error, result.content)
        data, current = result.structured_content, self.fixture["current"]
        self.assertEqual(data["current"]["temperature"], current["temperature_2m"])
        self.assertEqual(data["current"]["apparentTemperature"], current["apparent_temperature"])
        self.assertEqual(data["current"]["relativeHumidity"], current["relative_humidity_2m"])
        self.assertEqual(data["location"]["timezone"], self.fixture["timezone"])
        self.assertEqual(data["observedAt"], current["time"])
        self.assertIn(str(current["temperature_2m"]), self.text_of(result))

    async def test_upstream_400_is_tool_error_with_reason(self):
        # The fake answers latitude -1 with HTTP 400 and a fixed reason.
        async with self.session() as session:
            result = await session.call_tool("get_current_weather", {"latitude": -1, "longitude": 13.41})
        self.assertIs(result.is_error, True)
        self.assertIn("Given: 95.0.", self.text_of(result))

    async def test_widget_resource(self):
        forms = {WIDGET_URI: "text/html+skybridge", MCP_APP_URI: "text/html;profile=mcp-app"}
        async with self.session() as session:
            resources = {str(r.uri): r for r in (await session.list_resources()).resources}
            read = {uri: (await session.read_resource(uri)).contents for uri in forms}
            skill = (await session.read_resource(SKILL_URI)).contents[0]
        self.assertEqual(sorted(resources), sorted([*forms, SKILL_URI]))
        self.assertEqual(skill.mime_type, "text/markdown")
        self.assertTrue(skill.text.startswith("---\nname: current-weather\n"))
        for uri, mime_type in forms.items():
            contents = read[uri]
            self.assertEqual(resources[uri].mime_type, mime_type)
            self.assertEqual(len(contents), 1)
            self.assertEqual(str(contents[0].uri), uri)
            self.assertEqual(contents[0].mime_type, mime_type)
            self.assertTrue(contents[0].text.startswith("<!doctype html>"))
            meta = contents[0].meta
            self.assertEqual(meta["ui"]["csp"], {"connectDomains": [], "resourceDomains": []})
            self.assertIs(meta["ui"]["prefersBorder"], True)
        self.assertEqual(read[WIDGET_URI][0].text, read[MCP_APP_URI][0].text)


if __name__ == "__main__":
    unittest.main()
