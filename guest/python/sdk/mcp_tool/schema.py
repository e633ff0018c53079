"""Type hints to JSON Schema, and arguments checked against them with
messages the model can act on."""

import inspect
import json
import math
import types
import typing
from decimal import Decimal
from typing import Annotated, Any, Literal, Union


class Field:
    """What a type hint cannot say about a parameter, as in
    `Annotated[float, Field("Latitude", ge=-90.0, le=90.0, unit="degrees")]`.

    `ge`/`le` become the schema's `minimum`/`maximum` and are checked; `unit`
    is only used in error messages ("between -90 and 90 degrees")."""

    def __init__(self, description: str | None = None, *, ge: float | None = None, le: float | None = None,
                 unit: str | None = None, schema: dict | None = None):
        self.description = description
        self.ge = ge
        self.le = le
        self.unit = unit
        self.schema = schema or {}


def number_text(value: float) -> str:
    """A number as Rust's `Display` writes it (`90` for 90.0, no exponent), so
    that messages read the same whatever language a tool is written in."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(value)).normalize(), "f")


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Parameter:
    """One argument of a tool: its name, type, schema and how to check it."""

    def __init__(self, name: str, hint: Any, default: Any):
        self.name = name
        self.field = Field()
        if typing.get_origin(hint) is Annotated:
            hint, *extras = typing.get_args(hint)
            for extra in extras:
                if isinstance(extra, Field):
                    self.field = extra
                elif isinstance(extra, str) and self.field.description is None:
                    self.field.description = extra
        self.hint = hint
        self.default = default
        self.required = default is inspect.Parameter.empty

    def schema(self) -> dict:
        schema = type_schema(self.hint)
        if self.field.ge is not None:
            schema["minimum"] = self.field.ge
        if self.field.le is not None:
            schema["maximum"] = self.field.le
        if self.field.description is not None:
            schema["description"] = self.field.description
        if not self.required and self.default is not None:
            schema["default"] = self.default
        schema.update(self.field.schema)
        return schema

    def noun(self) -> str:
        """What the value must be, for messages."""
        unit = self.field.unit
        if self.hint is float:
            return f"a number of decimal {unit}" if unit else "a number"
        if self.hint is int:
            return f"a whole number of {unit}" if unit else "a whole number"
        return describe(self.hint)

    def missing(self) -> str:
        unit = self.field.unit
        if unit:
            decimal = "decimal " if self.hint is float else ""
            return f"Missing argument {self.name}: give it in {decimal}{unit}."
        return f"Missing argument {self.name}: {self.noun()}."

    def check(self, value: Any) -> Any:
        """The value converted to the hinted type; raises ValueError with a
        message for the model."""
        if not matches(self.hint, value):
            raise ValueError(f"{self.name} must be {self.noun()}; got {json_text(value)}.")
        value = convert(self.hint, value)
        ge, le, unit = self.field.ge, self.field.le, self.field.unit
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = ge is None or value >= ge
            high = le is None or value <= le
            if not (low and high and math.isfinite(value)):
                unit = f" {unit}" if unit else ""
                if ge is not None and le is not None:
                    bound = f"between {number_text(ge)} and {number_text(le)}{unit}"
                elif ge is not None:
                    bound = f"at least {number_text(ge)}{unit}"
                else:
                    bound = f"at most {number_text(le)}{unit}"
                raise ValueError(f"{self.name} must be {bound}; got {number_text(value)}.")
        return value


def optional_of(hint: Any) -> Any:
    """`X` for `Optional[X]` / `X | None`, else None."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def type_schema(hint: Any) -> dict:
    inner = optional_of(hint)
    if inner is not None:
        schema = type_schema(inner)
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        return schema
    origin = typing.get_origin(hint)
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if origin is Literal:
        return {"enum": list(typing.get_args(hint))}
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if hint is dict or origin is dict:
        args = typing.get_args(hint)
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = type_schema(args[1])
        return schema
    raise TypeError(f"no JSON Schema for the type hint {hint!r}")


def matches(hint: Any, value: Any) -> bool:
    inner = optional_of(hint)
    if inner is not None:
        return value is None or matches(inner, value)
    origin = typing.get_origin(hint)
    if hint is str:
        return isinstance(value, str)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return isinstance(value, list) and (not args or all(matches(args[0], v) for v in value))
    if hint is dict or origin is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and (len(args) != 2 or all(matches(args[1], v) for v in value.values()))
    return False


def convert(hint: Any, value: Any) -> Any:
    return float(value) if hint is float else value


def describe(hint: Any) -> str:
    inner = optional_of(hint)
    if inner is not None:
        return f"{describe(inner)} or null"
    origin = typing.get_origin(hint)
    if hint is str:
        return "a string"
    if hint is bool:
        return "true or false"
    if origin is Literal:
        return "one of " + ", ".join(json_text(v) for v in typing.get_args(hint))
    if hint is list or origin is list:
        return "a list"
    if hint is dict or origin is dict:
        return "an object"
    return "a valid value"


def listing(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class Signature:
    """A tool function's parameters: its input schema, and its arguments
    checked and converted. A parameter annotated `Context` is the call's
    context, not an argument."""

    def __init__(self, function, context_type):
        hints = typing.get_type_hints(function, include_extras=True)
        self.context_name = None
        self.parameters = []
        for name, parameter in inspect.signature(function).parameters.items():
            hint = hints.get(name, inspect.Parameter.empty)
            if hint is context_type:
                self.context_name = name
            else:
                self.parameters.append(Parameter(name, hint, parameter.default))

    def input_schema(self) -> dict:
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.parameters},
            "required": [p.name for p in self.parameters if p.required],
            "additionalProperties": False,
        }

    def bind(self, arguments: dict) -> dict:
        """Keyword arguments for the function; raises ValueError."""
        names = [p.name for p in self.parameters]
        for key in arguments:
            if key not in names:
                allowed = f"only {listing(names)} {'is' if len(names) == 1 else 'are'} accepted" if names \
                    else "this tool takes none"
                raise ValueError(f"Unknown argument {json_text(key)}: {allowed}.")
        bound = {}
        for parameter in self.parameters:
            if parameter.name in arguments:
                bound[parameter.name] = parameter.check(arguments[parameter.name])
            elif parameter.required:
                raise ValueError(parameter.missing())
        return bound
