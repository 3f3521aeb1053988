"""The OpenAPI 3 document of the shop API, served unauthenticated at /api/v1/openapi.json.

Request bodies are described by the same pydantic models that check them
(`component_schemas`); the rest (responses, headers, errors) is written out here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection
from typing import Any

from flask import Response, jsonify
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from bot.core.json_schema import UntitledJsonSchema
from bot.core.services import current_services
from bot.shop_api.api import ShopApi
from bot.shop_api.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER
from bot.shop_api.idempotency import KEY_HEADER

API_VERSION = "1.0.0"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}

PARAMETERS: dict[str, Any] = {
    "Timestamp": {
        "name": TIMESTAMP_HEADER,
        "in": "header",
        "required": True,
        "description": "Unix seconds; must be within 300 seconds of the server's clock.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
    },
    "Signature": {
        "name": SIGNATURE_HEADER,
        "in": "header",
        "required": True,
        "description": (
            'sha256=<hex HMAC-SHA256(SHOP_API_SECRET, "<timestamp>.<METHOD>.<target>." + raw '
            "body)>, where <timestamp> is the X-Shop-Timestamp value, <METHOD> the upper-case "
            "method and <target> the request target exactly as sent: the path as encoded on "
            "the request line and, if any, '?' and the raw query string (no scheme, no host). "
            "Each signature is accepted once: a replayed request gets 401."
        ),
        "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
    },
    "IdempotencyKey": {
        "name": KEY_HEADER,
        "in": "header",
        "required": False,
        "description": "Replays the first response for 24 hours; another body gets 409.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
    },
}

REF_TEMPLATE = "#/components/schemas/{model}"


class _OpenApiSchema(UntitledJsonSchema):
    """pydantic's JSON Schema, written as the shop API document spells it.

    No titles; an optional field is documented as its type alone (the API reads a null as
    absent, and the document never offers null); a single allowed value is an `enum`.
    """

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        out = super().default_schema(schema)
        out.pop("default", None)
        return out

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        out = super().literal_schema(schema)
        if "const" in out:
            out["enum"] = [out.pop("const")]
        return out


def type_schema(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of one type (e.g. an annotated string), refs into the components."""
    schema = TypeAdapter(annotation).json_schema(
        ref_template=REF_TEMPLATE, schema_generator=_OpenApiSchema
    )
    if "$defs" in schema:
        raise ValueError("type_schema is for simple types; use component_schemas for models")
    return schema


def component_schemas(name: str, annotation: Any) -> dict[str, dict[str, Any]]:
    """Component schemas for a request shape: `name` for the model (or union of models)
    itself, and one per model it contains, under the model's class name."""
    schema = TypeAdapter(annotation).json_schema(
        ref_template=REF_TEMPLATE, schema_generator=_OpenApiSchema
    )
    nested = schema.pop("$defs", {})
    return {**nested, name: schema}


def json_request(schema_name: str) -> dict[str, Any]:
    """A required JSON request body of a component schema."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def json_response(description: str, schema_name: str) -> dict[str, Any]:
    """A JSON response of a component schema."""
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
        },
    }


def error(description: str) -> dict[str, Any]:
    """A response object whose body is the standard error shape."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def signed(*, idempotent: bool) -> list[dict[str, Any]]:
    """The header parameters of a signed (and optionally idempotent) operation."""
    refs = [{"$ref": "#/components/parameters/Timestamp"}]
    refs.append({"$ref": "#/components/parameters/Signature"})
    if idempotent:
        refs.append({"$ref": "#/components/parameters/IdempotencyKey"})
    return refs


def _retry_after(response: dict[str, Any]) -> dict[str, Any]:
    """`response` with its Retry-After header (seconds) documented."""
    header = {"description": "Seconds to wait.", "schema": {"type": "string"}}
    return {**response, "headers": {"Retry-After": header}}


def common_errors(*, body: bool, idempotent: bool) -> dict[str, Any]:
    """The error responses every signed operation may give."""
    responses = {
        "401": error("Missing, stale, wrong or already used (replayed) signature."),
        "429": _retry_after(
            error("Too many refused requests from this address; retry after `Retry-After`.")
        ),
        "503": _retry_after(
            error("Request checks are briefly unavailable; retry after `Retry-After`.")
        ),
    }
    if body:
        responses["400"] = error("Invalid JSON or a field is wrong (`field` names it).")
        responses["413"] = error("The body is larger than 1 MiB.")
        responses["415"] = error("The body is not application/json.")
    if idempotent:
        responses.setdefault("400", error("The Idempotency-Key header is malformed."))
        responses["409"] = error("The Idempotency-Key was used for a different request.")
    return responses


LINK_MARK = "x-shop-link"  # a URL field whose host must be one of the shop's (LINK_HOSTS)


def _host_pattern(host: str) -> str:
    if host.startswith("*."):
        return r"([a-z0-9-]+\.)+" + re.escape(host[2:])
    return re.escape(host)


def link_pattern(hosts: Collection[str]) -> str:
    """A pattern for http(s) URLs on these hosts (`*.name`: any subdomain), port optional."""
    alternatives = "|".join(_host_pattern(h) for h in sorted(hosts)) or "(?!)"
    return rf"^[Hh][Tt][Tt][Pp][Ss]?://({alternatives})(:[0-9]{{1,5}})?([/?#][^\s\x00]*)?$"


def _restrict_links(node: Any, hosts: Collection[str]) -> None:
    if isinstance(node, dict):
        if node.get(LINK_MARK):
            node["pattern"] = link_pattern(hosts)
            node["description"] = (
                f"{node.get('description', '')} A link: its host must be one of "
                f"{', '.join(sorted(hosts))}."
            ).strip()
        for value in node.values():
            _restrict_links(value, hosts)
    elif isinstance(node, list):
        for value in node:
            _restrict_links(value, hosts)


def document(api: ShopApi, link_hosts: Collection[str] | None = None) -> dict[str, Any]:
    """The whole OpenAPI document of `api`, with the paths and schemas its features added.

    With `link_hosts` (the served document passes the deployment's), link fields say which
    hosts they accept, so a request valid by the document is never refused for its host.
    """
    schemas = copy.deepcopy(api.schemas)
    if link_hosts is not None:
        _restrict_links(schemas, link_hosts)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shop API",
            "version": API_VERSION,
            "description": (
                "Signed JSON API through which a shop links members and sends events. Every "
                "request carries X-Shop-Timestamp and X-Shop-Signature, an HMAC-SHA256 over "
                "the timestamp, the method, the request target (path and raw query) and the "
                "raw body; see the Signature parameter and docs/shop-api.md."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": copy.deepcopy(api.paths),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **schemas},
            "parameters": PARAMETERS,
        },
    }


def init_api(api: ShopApi) -> None:
    """Serve `api`'s document at GET /api/v1/openapi.json (no authentication: no secrets)."""

    def openapi_json() -> Response:
        return jsonify(document(api, current_services().settings.allowed_link_hosts))

    api.bp.add_url_rule("/openapi.json", view_func=openapi_json, methods=["GET"])
