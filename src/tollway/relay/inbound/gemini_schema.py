"""Gemini's OpenAPI-style schemas (`parameters`, `responseSchema`: upper-case types, `nullable`) as JSON Schema."""

from __future__ import annotations

from typing import Any

# Keys whose values are data, not schemas, and keys Gemini adds that JSON Schema does not have.
_DATA = frozenset({"enum", "required", "example", "default", "format", "description", "title", "pattern"})
_DROPPED = frozenset({"propertyOrdering", "property_ordering"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def json_schema(schema: Any) -> Any:
    """The JSON Schema of a Gemini schema (google-genai may spell its keys in snake_case)."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        name = _camel(key)
        if name == "properties" and isinstance(value, dict):
            out[name] = {prop: json_schema(sub) for prop, sub in value.items()}  # property names are data
        elif name == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out[name] = value.lower()
        elif name in _DATA:
            out[name] = value
        else:
            out[name] = json_schema(value)
    if out.pop("nullable", None) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
