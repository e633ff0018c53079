"""What a Python tool author uses besides what the weather tool does: input
requests (elicitation), prompts with completions, and a tool that runs as a
task. Built by `make build` for the polyglot
tests, which ask the TypeScript build (`tests/features-typescript`) the same."""

from mcp_tool import Context, completion, prompt, tool

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


@completion("greeting", "tone")
def tones(typed: str, context: dict) -> list[str]:
    """Tones of a greeting starting with what was typed."""
    return [t for t in ["warm", "wary", "witty", "formal"] if t.startswith(typed)]


from mcp_tool.exports import *  # noqa: E402,F401,F403
