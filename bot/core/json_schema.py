"""JSON Schema from pydantic models, as this project publishes it: without the titles
pydantic derives from Python names (they mean nothing to a shop's engineer or an editor)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema


class UntitledJsonSchema(GenerateJsonSchema):
    """pydantic's JSON Schema with no `title` on models or fields."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        out.pop("title", None)
        return out
