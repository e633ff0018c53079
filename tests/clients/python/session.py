"""The official Python SDK client in one session against the MCP endpoint at
MCP_URL (the multi-instance tests point it at nginx in front of three hosts):
connects, lists the tools, calls get_current_weather CALLS times, and prints
what it got as one JSON line. Any failure exits non-zero."""

import asyncio
import json
import os

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

REQUEST_S = 20.0


async def main() -> None:
    async with streamable_http_client(os.environ["MCP_URL"]) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=REQUEST_S) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            temperatures = []
            for i in range(int(os.environ["CALLS"])):
                result = await session.call_tool("get_current_weather", {"latitude": 52.52, "longitude": 13.41})
                if result.is_error:
                    raise SystemExit(f"call {i} failed: {result}")
                temperatures.append(result.structured_content["current"]["temperature"])
    print(json.dumps({
        "protocol": getattr(init, "protocol_version", None),
        "tools": [tool.name for tool in tools.tools],
        "temperatures": temperatures,
    }))


asyncio.run(main())
