"""The `mcp:tool` exports componentize-py looks for in the app module (which
imports them with `from mcp_tool.exports import *`), built from what the
decorators registered. The `tool-call` resource is `mcp_tool.ToolCall`."""

import gc
import inspect
import json
import traceback

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import mcp_tool as tool_call_exports
from wit_world.imports import mcp_tool_types as wit

from .server import COMPLETERS, PROMPTS, RESOURCES, TOOLS, Contents, Context, Image, InputRequired, Result, ToolError

_ANNOTATIONS = {
    "title": "title",
    "read_only_hint": "read_only_hint", "readOnlyHint": "read_only_hint",
    "destructive_hint": "destructive_hint", "destructiveHint": "destructive_hint",
    "idempotent_hint": "idempotent_hint", "idempotentHint": "idempotent_hint",
    "open_world_hint": "open_world_hint", "openWorldHint": "open_world_hint",
}


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _optional_json(value) -> str | None:
    return None if value is None else _json(value)


def _annotations(hints: dict | None):
    if hints is None:
        return None
    fields = dict.fromkeys(["title", "read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"])
    for key, value in hints.items():
        fields[_ANNOTATIONS[key]] = value
    return wit.Annotations(**fields)


def _contents(uri: str, value, mime_type: str | None, meta: dict | None) -> wit.ResourceContents:
    if isinstance(value, Contents):
        mime_type, meta, value = value.mime_type or mime_type, value.meta, value.body
    body = wit.ResourceBody_Blob(bytes(value)) if isinstance(value, (bytes, bytearray)) \
        else wit.ResourceBody_Text(str(value))
    return wit.ResourceContents(uri, mime_type, body, _optional_json(meta))


def _block(item) -> wit.ContentBlock:
    if isinstance(item, str):
        return wit.ContentBlock_Text(item)
    if isinstance(item, Image):
        return wit.ContentBlock_Image(wit.Media(item.data, item.mime_type))
    if isinstance(item, Contents):
        raise TypeError("embed a resource as (uri, Contents)")
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Contents):
        return wit.ContentBlock_Resource(_contents(item[0], item[1], None, None))
    raise TypeError(f"not a content block: {type(item).__name__}")


def _result(value) -> wit.CallResult:
    if isinstance(value, Result):
        return wit.CallResult([_block(b) for b in value.content], _optional_json(value.structured),
                              value.is_error, _optional_json(value.meta))
    if isinstance(value, dict):
        return wit.CallResult([wit.ContentBlock_Text(_json(value))], _json(value), False, None)
    if value is None:
        return wit.CallResult([], None, False, None)
    return wit.CallResult([wit.ContentBlock_Text(str(value))], None, False, None)


def _error_result(message: str) -> wit.CallResult:
    return wit.CallResult([wit.ContentBlock_Text(message)], None, True, None)


def _input_required(error: InputRequired) -> wit.CallError:
    requests = [wit.InputRequest(key, method, _json(params)) for key, method, params in error.requests]
    return wit.CallError_InputRequired(wit.InputRequired(requests, error.state))


def _internal(function) -> wit.CallError:
    return wit.CallError_Internal(f"{function.__name__} failed: {traceback.format_exc(limit=8)}")


def _event(event) -> wit.CallEvent:
    if event[0] == "log":
        _, level, logger, data = event
        return wit.CallEvent_Log(wit.LogMessage(wit.LogLevel[level.upper()], logger, _json(data)))
    _, progress, total, message = event
    return wit.CallEvent_Progress(wit.ProgressUpdate(progress, total, message))


class McpTool(exports.McpTool):
    def list_tools(self):
        return [
            wit.Tool(t.name, t.title, t.description, _json(t.signature.input_schema()),
                     _optional_json(t.output_schema), _annotations(t.annotations), _optional_json(t.meta))
            for t in TOOLS.values()
        ]


class ToolCall(tool_call_exports.ToolCall):
    """One call, stepped by the host: each `next` runs the tool until it has
    queued an event (an `async` tool pauses at each `await ctx...`) or ends."""

    def __init__(self, request: wit.CallRequest):
        self.done = None
        self.running = None
        self.context = Context(request)
        definition = TOOLS.get(request.name)
        if definition is None:
            self.done = Err(wit.CallError_UnknownTool())
            return
        self.definition = definition
        try:
            arguments = definition.signature.bind(json.loads(request.arguments))
        except ValueError as error:
            self.done = Ok(_error_result(str(error)))
            return
        if definition.signature.context_name:
            arguments[definition.signature.context_name] = self.context
        self.function = definition.function
        self.arguments = arguments

    def _run(self):
        """Advances the tool; sets `done` when it has finished."""
        try:
            if self.running is None and not inspect.iscoroutinefunction(self.function):
                value = self.function(**self.arguments)
            else:
                if self.running is None:
                    self.running = self.function(**self.arguments)
                self.running.send(None)
                return
        except StopIteration as stop:
            value = stop.value
        except ToolError as error:
            self.done = Ok(_error_result(str(error)))
            return
        except InputRequired as error:
            self.done = Err(_input_required(error))
            return
        except MemoryError:
            # Out of the policy's memory: let the host stop the instance and say so.
            raise
        except Exception:
            self.done = Err(_internal(self.function))
            return
        try:
            self.done = Ok(_result(value))
        except (TypeError, ValueError):
            self.done = Err(_internal(self.function))

    def next(self) -> wit.CallEvent:
        while True:
            if self.context.events:
                return _event(self.context.events.popleft())
            if self.done is not None:
                done, self.done = self.done, Err(wit.CallError_Internal("the call has already finished"))
                return wit.CallEvent_Done(done)
            self._run()


class Resources(exports.Resources):
    def list_resources(self):
        listed = []
        for r in RESOURCES.values():
            meta = r.meta() if callable(r.meta) else r.meta
            listed.append(wit.Resource(r.uri, r.name, r.title, r.description, r.mime_type, r.size,
                                       _optional_json(meta)))
        return listed

    def list_resource_templates(self):
        return []

    def read_resource(self, uri: str):
        definition = RESOURCES.get(uri)
        if definition is None:
            raise Err(wit.ReadError_NotFound())
        try:
            return [_contents(uri, definition.function(), definition.mime_type, None)]
        except Exception:
            raise Err(wit.ReadError_Internal(traceback.format_exc(limit=8))) from None


class Prompts(exports.Prompts):
    def list_prompts(self):
        return [
            wit.Prompt(p.name, p.title, p.description,
                       [wit.PromptArgument(name, None, None, required) for name, required in p.arguments], None)
            for p in PROMPTS.values()
        ]

    def get_prompt(self, name: str, arguments: str, inputs):
        definition = PROMPTS.get(name)
        if definition is None:
            raise Err(wit.CallError_UnknownTool())
        values = json.loads(arguments)
        missing = [n for n, required in definition.arguments if required and n not in values]
        if missing or any(n not in dict(definition.arguments) for n in values):
            raise Err(wit.CallError_InvalidParams(f"{name} takes {[n for n, _ in definition.arguments]}"))
        try:
            value = definition.function(**values)
        except Exception:
            raise Err(_internal(definition.function)) from None
        pairs = [("user", value)] if isinstance(value, str) else value
        messages = [wit.PromptMessage(wit.Role[role.upper()], wit.ContentBlock_Text(text)) for role, text in pairs]
        return wit.PromptResult(definition.description or None, messages)


class Completion(exports.Completion):
    def complete(self, request):
        completer = COMPLETERS.get((request.target.value, request.argument))
        if completer is None:
            return wit.Completion([], None, False)
        try:
            values = [str(v) for v in completer(request.value, json.loads(request.context))]
        except Exception:
            raise Err(_internal(completer)) from None
        return wit.Completion(values[:100], len(values), len(values) > 100)


__all__ = ["McpTool", "Resources", "Prompts", "Completion"]

# The app imports this module last, so everything it built is loaded by now and
# goes into componentize-py's snapshot, where every call starts. Frozen, the
# collector never walks it: a collection during a call would otherwise write to
# (and so copy) pages all over the snapshot.
gc.freeze()
