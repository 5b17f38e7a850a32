"""The OpenAPI document, generated from the routers' declared pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from command_center.api import MAX_ROW_ID, Operation

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}
PATH_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")
# `{id:int}` matches a key column's range (command_center.api.RowIdConvertor).
INT_PATH_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ROW_ID}


def _openapi_path(path: str) -> str:
    return PATH_PARAM.sub(r"{\1}", path)


def _path_schema(convertor: str) -> dict[str, Any]:
    return dict(INT_PATH_SCHEMA) if convertor == "int" else {"type": "string"}


def build_openapi(operations: list[Operation], *, title: str, version: str) -> dict[str, Any]:
    models: list[tuple[Any, str]] = []
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    keyed, defs = _schemas(models)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.handler.__name__}",
            "tags": op.tags,
            "responses": {},
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(convertor)}
            for name, convertor in PATH_PARAM.findall(op.path)
        ]
        if op.query is not None:
            schema = op.query.model_json_schema()
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                params.append(
                    {
                        "name": prop.get("alias", name),
                        "in": "query",
                        "required": name in required,
                        "schema": {k: v for k, v in prop.items() if k != "title"},
                        "description": prop.get("description", ""),
                    }
                )
        if params:
            entry["parameters"] = params
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keyed[(op.body, "validation")]}},
            }
        elif op.raw_body is not None:
            entry["requestBody"] = {"required": True, "content": op.raw_body}
        raw_types = (op.raw_response,) if isinstance(op.raw_response, str) else op.raw_response or ()
        if raw_types:
            content: dict[str, Any] = {media: {"schema": {"type": "string"}} for media in raw_types}
            entry["responses"][str(op.status)] = {"description": "OK", "content": content}
        elif op.status == 204 or op.response is None:
            entry["responses"][str(op.status)] = {"description": "No content" if op.status == 204 else "OK"}
        else:
            entry["responses"][str(op.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": keyed[(op.response, "serialization")]}},
            }
        error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if op.raw_response == "text/html":  # a page answers its errors with a page (JSON off its path)
            error_ref["content"]["text/html"] = {"schema": {"type": "string"}}
        for status, text in _error_statuses(op).items():
            redirect = 300 <= status < 400
            entry["responses"][str(status)] = {"description": text, **({} if redirect else error_ref)}
        if op.auth:
            entry["security"] = [{"bearer": []}, {"session": []}]
        paths.setdefault(_openapi_path(op.path), {})[op.method.lower()] = entry
    defs["Error"] = ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Court API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cc_session"},
            },
        },
    }


def _error_statuses(op: Operation) -> dict[int, str]:
    has_input = op.body is not None or op.query is not None or op.raw_body is not None
    statuses = {422: "Invalid input"} if has_input else {}
    if op.auth:
        statuses.update({401: "Not signed in", 403: "Not allowed"})
    if "{" in op.path:
        statuses[404] = "Not found"
    if op.method != "GET":
        statuses[409] = "Conflict"
    statuses.update(op.extra_responses)
    return statuses


def _schemas(models: list[tuple[Any, str]]) -> tuple[dict[tuple[Any, str], Any], dict[str, Any]]:
    """JSON schemas for models and list[...] / Page[...] types, with shared $defs."""
    unique = list(dict.fromkeys(models))
    plain = [(m, mode) for m, mode in unique if isinstance(m, type) and issubclass(m, BaseModel)]
    keyed: dict[tuple[Any, str], Any] = {}
    defs: dict[str, Any] = {}
    if plain:
        key_map, top = models_json_schema(plain, ref_template="#/components/schemas/{model}")
        defs.update(top.get("$defs", {}))
        for (model, mode), schema in key_map.items():
            keyed[(model, mode)] = schema
    for model, mode in unique:
        if (model, mode) in keyed:
            continue
        schema = TypeAdapter(model).json_schema(mode=mode, ref_template="#/components/schemas/{model}")
        defs.update(schema.pop("$defs", {}))
        keyed[(model, mode)] = schema
    return keyed, defs
