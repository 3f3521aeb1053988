"""The shop-facing HTTP API under /api/v1: signed, idempotent, JSON errors, OpenAPI.

`create_app` builds a `ShopApi` and hands it to each feature's `init_api`, which adds its
endpoints and their OpenAPI description:

    def init_api(api: ShopApi) -> None:
        api.bp.add_url_rule("/things", view_func=create_thing, methods=["POST"])
        api.add_paths({"/things": {"post": {...}}}, component_schemas("ThingRequest", ThingRequest))

    @shop_endpoint
    def create_thing(): ...
"""

from __future__ import annotations

from bot.shop_api.api import ShopApi, json_body, on_commit, shop_endpoint
from bot.shop_api.errors import ApiError, error_response

__all__ = [
    "ApiError",
    "ShopApi",
    "error_response",
    "json_body",
    "on_commit",
    "shop_endpoint",
]
