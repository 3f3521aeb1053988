"""The shop-facing HTTP API under /api/v1: signed, idempotent, JSON errors, OpenAPI.

Feature modules add endpoints with:

    from bot.shop_api import ApiError, bp, json_body, register_openapi_paths, shop_endpoint

    @bp.post("/things")
    @shop_endpoint
    def create_thing(): ...
"""

from __future__ import annotations

from bot.shop_api.api import bp, json_body, on_commit, register_openapi_paths, shop_endpoint
from bot.shop_api.errors import ApiError, error_response

__all__ = [
    "ApiError",
    "bp",
    "error_response",
    "json_body",
    "on_commit",
    "register_openapi_paths",
    "shop_endpoint",
]
