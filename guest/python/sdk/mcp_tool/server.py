"""What a component offers (tools, resources, prompts, registered by the
decorators) and what a tool call sees (`Context`) and returns."""

import inspect
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .schema import Signature

LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


class ToolError(Exception):
    """A failure the model can act on (bad input, an upstream error): the
    call's result has `isError` set and this text as its content."""


class InputRequired(Exception):
    """Raised by `Context.elicit` and friends when the client must answer
    first; the host asks it and calls the tool again with the answers."""

    def __init__(self, requests: list[tuple[str, str, dict]], state: str | None = None):
        super().__init__("input required")
        self.requests = requests
        self.state = state


@dataclass
class Image:
    data: bytes
    mime_type: str


@dataclass
class Contents:
    """A resource's contents: text (str) or a blob (bytes), with `_meta`."""
    body: str | bytes
    mime_type: str | None = None
    meta: dict | None = None


@dataclass
class Result:
    """A tool result with everything MCP allows: content blocks (str for
    text, `Image`, `Contents` for an embedded resource), `structured`
    content (a dict matching the output schema), `_meta` for widgets."""
    content: list = field(default_factory=list)
    structured: dict | None = None
    meta: dict | None = None
    is_error: bool = False


class _Yield:
    """Awaited after an event is queued: hands control back to the host, so
    the event leaves the component while the tool runs."""

    def __await__(self):
        yield self


class Context:
    """The running call: its logs, progress, input requests, and what the
    client sent besides the arguments."""

    def __init__(self, request):
        self.log_level = None if request.log_level is None else request.log_level.name.lower()
        self.progress_requested = request.progress
        self.meta = json.loads(request.meta) if request.meta else {}
        self.client_capabilities = json.loads(request.client_capabilities or "{}")
        self.identity = json.loads(request.identity) if request.identity else None
        self.responses = json.loads(request.inputs.responses) if request.inputs else {}
        self.state = request.inputs.state if request.inputs else None
        self.events = deque()

    def log(self, level: str, data: Any, logger: str | None = None) -> _Yield:
        """Sends a log message if the client listens at `level` (await it to
        send it at once). `data`: any JSON value, usually a string."""
        if self.log_level is not None and LOG_LEVELS.index(level) >= LOG_LEVELS.index(self.log_level):
            self.events.append(("log", level, logger, data))
        return _Yield()

    def debug(self, data: Any) -> _Yield:
        return self.log("debug", data)

    def info(self, data: Any) -> _Yield:
        return self.log("info", data)

    def warning(self, data: Any) -> _Yield:
        return self.log("warning", data)

    def error(self, data: Any) -> _Yield:
        return self.log("error", data)

    def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> _Yield:
        """Reports progress if the client asked for it; `progress` must increase."""
        if self.progress_requested:
            self.events.append(("progress", float(progress), None if total is None else float(total), message))
        return _Yield()

    def elicit(self, key: str, message: str, schema: dict, state: str | None = None) -> dict:
        """The user's answer to a form (`elicitation/create`), asked once
        under `key`: raises `InputRequired` until the answer is there."""
        return self.request_input(key, "elicitation/create", {"message": message, "requestedSchema": schema}, state)

    def request_input(self, key: str, method: str, params: dict, state: str | None = None) -> dict:
        """The client's answer to `method` (elicitation, sampling, roots)."""
        if key in self.responses:
            return self.responses[key]
        raise InputRequired([(key, method, params)], state)


@dataclass
class ToolDef:
    name: str
    function: Callable
    signature: Signature
    title: str | None
    description: str
    annotations: dict | None
    meta: dict | None
    output_schema: dict | None


@dataclass
class ResourceDef:
    uri: str
    function: Callable
    name: str
    title: str | None
    description: str | None
    mime_type: str | None
    size: int | None
    meta: dict | Callable[[], dict] | None


@dataclass
class PromptDef:
    name: str
    function: Callable
    title: str | None
    description: str
    arguments: list[tuple[str, bool]]


TOOLS: dict[str, ToolDef] = {}
RESOURCES: dict[str, ResourceDef] = {}
PROMPTS: dict[str, PromptDef] = {}
# Completers by (prompt name or template URI, argument).
COMPLETERS: dict[tuple[str, str], Callable] = {}


def description_of(function: Callable) -> str:
    """The docstring: each paragraph on one line, paragraphs apart."""
    doc = inspect.cleandoc(function.__doc__ or "")
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n") if p.strip())


def _register(registry: dict, key: str, definition) -> None:
    if key in registry:
        raise ValueError(f"{key!r} is defined twice")
    registry[key] = definition


# Where mcp-host reads a tool's task support (the Rust SDK's `Tool::with_tasks`).
TASK_META = "mcp-host/task"


def tool(function: Callable | None = None, *, name: str | None = None, title: str | None = None,
         description: str | None = None, annotations: dict | None = None, meta: dict | None = None,
         output_schema: dict | None = None, task: str | None = None):
    """Makes a function a tool. Its type hints become the input schema (see
    `Field`), its docstring the description; a parameter typed `Context` gets
    the call's context. It may be `async` (to stream logs and progress with
    `await ctx...`) and returns a str, a dict (structured content, shown as
    JSON text too) or a `Result`; raising `ToolError` is an error the model
    sees. `annotations`: MCP's hints, snake_case or camelCase keys. `task`:
    "optional" or "required" runs the call as a task for clients of the tasks
    extension (others are answered at once, or refused)."""
    if task not in (None, "optional", "required"):
        raise ValueError(f'task must be "optional" or "required", not {task!r}')
    if task is not None:
        meta = {**(meta or {}), TASK_META: {"support": task}}

    def decorate(function: Callable) -> Callable:
        definition = ToolDef(
            name=name or function.__name__,
            function=function,
            signature=Signature(function, Context),
            title=title,
            description=description if description is not None else description_of(function),
            annotations=annotations,
            meta=meta,
            output_schema=output_schema,
        )
        _register(TOOLS, definition.name, definition)
        return function

    return decorate(function) if function is not None else decorate


def resource(uri: str, *, name: str | None = None, title: str | None = None, description: str | None = None,
             mime_type: str | None = None, size: int | None = None, meta: dict | Callable[[], dict] | None = None):
    """Serves the function's return value at `uri`: str (text), bytes (a
    blob) or `Contents`. `meta` may be a function, evaluated at each listing."""

    def decorate(function: Callable) -> Callable:
        definition = ResourceDef(uri, function, name or function.__name__, title,
                                 description if description is not None else (description_of(function) or None),
                                 mime_type, size, meta)
        _register(RESOURCES, uri, definition)
        return function

    return decorate


def prompt(function: Callable | None = None, *, name: str | None = None, title: str | None = None,
           description: str | None = None):
    """Makes a function a prompt: its str parameters are the arguments
    (required unless they have a default) and it returns the user message
    (str) or a list of (role, text) pairs."""

    def decorate(function: Callable) -> Callable:
        parameters = inspect.signature(function).parameters.values()
        arguments = [(p.name, p.default is inspect.Parameter.empty) for p in parameters]
        definition = PromptDef(name or function.__name__, function, title,
                               description if description is not None else description_of(function), arguments)
        _register(PROMPTS, definition.name, definition)
        return function

    return decorate(function) if function is not None else decorate


def completion(target: str, argument: str):
    """Suggests values for `argument` of the prompt named `target` (or of the
    resource template whose URI template is `target`): the function takes what
    the user typed so far and the other arguments' values (a dict), and returns
    the suggestions, best first (at most 100 are sent)."""

    def decorate(function: Callable) -> Callable:
        _register(COMPLETERS, (target, argument), function)
        return function

    return decorate
