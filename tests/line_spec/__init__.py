"""LINE's OpenAPI specification files, and JSON Schema validators built from them."""
