"""JSON Schema validators for the schemas of LINE's OpenAPI files.

OpenAPI's `discriminator` is not JSON Schema: validated as written, a `Message` is only
checked for having a `type`, and a Flex bubble's contents not at all. Each schema with a
discriminator mapping is rewritten here to pick the mapped schema by the discriminating
property (and to refuse a value with no mapping); the mapped schemas extend the base with
`allOf`, so they refer to a copy of the base without the dispatch.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

SPEC_DIR = Path(__file__).parent
PREFIX = "#/components/schemas/"


@cache
def spec(name: str) -> dict[str, Any]:
    """One vendored file (`messaging-api`, `insight` or `webhook`), parsed."""
    return yaml.safe_load((SPEC_DIR / f"{name}.yml").read_text(encoding="utf-8"))


def _nullable(node: Any) -> None:
    """OpenAPI 3.0's `nullable: true` as JSON Schema: null joins the allowed types."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            del node["nullable"]
            node["type"] = [node["type"], "null"]
        for value in node.values():
            _nullable(value)
    elif isinstance(node, list):
        for value in node:
            _nullable(value)


@cache
def _schemas(name: str) -> dict[str, Any]:
    schemas = copy.deepcopy(spec(name)["components"]["schemas"])
    _nullable(schemas)
    for base, schema in list(schemas.items()):
        discriminator = schema.get("discriminator")
        if not discriminator or not discriminator.get("mapping"):
            continue
        plain = {k: v for k, v in schema.items() if k != "discriminator"}
        schemas[f"{base}__plain"] = plain
        prop, mapping = discriminator["propertyName"], discriminator["mapping"]
        for target in mapping.values():
            _point_at_plain(schemas[target.removeprefix(PREFIX)], base)
        schemas[base] = {
            "allOf": [
                {"$ref": f"{PREFIX}{base}__plain"},
                {"properties": {prop: {"enum": sorted(mapping)}}, "required": [prop]},
                *(
                    {
                        "if": {"properties": {prop: {"const": key}}, "required": [prop]},
                        "then": {"$ref": target},
                    }
                    for key, target in mapping.items()
                ),
            ]
        }
    return schemas


def _point_at_plain(schema: dict[str, Any], base: str) -> None:
    for part in schema.get("allOf", []):
        if part.get("$ref") == f"{PREFIX}{base}":
            part["$ref"] = f"{PREFIX}{base}__plain"


@cache
def validator(spec_name: str, schema: str) -> Any:
    """A validator for one named schema of a vendored file."""
    document = {
        "allOf": [{"$ref": f"{PREFIX}{schema}"}],
        "components": {"schemas": _schemas(spec_name)},
    }
    return jsonschema_rs.Draft7Validator(document)


def violations(spec_name: str, schema: str, instance: Any) -> list[str]:
    """What is wrong with `instance` as a `schema` of the file; [] when it conforms."""
    return [
        f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {error.message}"
        for error in validator(spec_name, schema).iter_errors(instance)
    ]


def event_types() -> list[str]:
    """Every event type `webhook.yml` maps (message, follow, join, …)."""
    return sorted(spec("webhook")["components"]["schemas"]["Event"]["discriminator"]["mapping"])
