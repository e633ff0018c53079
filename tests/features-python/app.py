"""What a Python tool author uses besides what the weather tool does: input
requests (elicitation), prompts, and a tool that runs as a task. Built by `make build` for the polyglot
tests, which ask the TypeScript build (`tests/features-typescript`) the same."""

from mcp_tool import Context, prompt, tool

NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@tool
def greet(ctx: Context) -> str:
    """Asks the user's name, then greets them."""
    answer = ctx.elicit("name", "What is your name?", NAME_FORM)
    if answer.get("action") != "accept":
        return "No name, no greeting."
    return f"Hello, {answer['content']['name']}!"


@tool(task="optional")
def square(x: int) -> str:
    """Squares `x`, as a task for clients that take one."""
    return f"{x} squared is {x * x}"


@prompt
def greeting(name: str, tone: str = "warm"):
    """A greeting for someone."""
    return [("user", f"Write a {tone} greeting for {name}."), ("assistant", f"Dear {name},")]


from mcp_tool.exports import *  # noqa: E402,F401,F403
