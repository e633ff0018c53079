"""mcp_tool: write an MCP tool component in Python, built by componentize-py
against the `mcp:tool` WIT and served by mcp-host like any other component.

    from typing import Annotated
    from mcp_tool import Context, Field, ToolError, tool

    @tool(annotations={"readOnlyHint": True})
    async def greet(name: Annotated[str, Field("Who to greet")], ctx: Context) -> str:
        \"\"\"Greets someone by name.\"\"\"
        await ctx.info(f"greeting {name}")
        return f"Hello, {name}!"

    from mcp_tool.exports import *  # the exports componentize-py looks for

Outbound HTTP: `mcp_tool.http.get` (the host's policy decides where to).
The environment the policy grants: `mcp_tool.env` (not `os.environ`, which
componentize-py freezes at build time).
"""

from wit_world.imports import environment

from .schema import Field
from .server import Contents, Context, Image, InputRequired, Result, ToolError, completion, prompt, resource, tool


def env(name: str, default: str | None = None) -> str | None:
    """A variable of the environment the host's policy grants this call."""
    return dict(environment.get_environment()).get(name, default)


def environ() -> dict[str, str]:
    """Every variable the policy grants."""
    return dict(environment.get_environment())


__all__ = ["Contents", "Context", "Field", "Image", "InputRequired", "Result", "ToolError", "completion", "env", "environ",
           "prompt", "resource", "tool"]


def __getattr__(name):
    # componentize-py finds the `tool-call` resource here (the `tools`
    # interface is exported under the name `mcp_tool`); loaded lazily so
    # that `exports` can import this package first.
    if name == "ToolCall":
        from .exports import ToolCall

        return ToolCall
    raise AttributeError(name)
