"""One member-id grammar: whatever an endpoint accepts as a member id, DELETE can address."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import build_shop_api
from bot.linking.service import MEMBER_ID_PATTERN, is_member_id
from bot.shop_api.openapi import document
from tests.helpers.delivery import cart_body
from tests.helpers.line import SHOPPER_ID
from tests.helpers.shop_api import ShopApi

FIXTURE_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Ids that are easy to get wrong in a URL path: slashes (leading, doubled, trailing), dot
# segments, percent signs, query and fragment marks, quotes.
ODD_IDS = ["/7", "a//b", "M7/", ".", "..", "a/../b", "%41", "50%", "a?b=c", "a#b", "'\"<>", "~+;"]


def _cart_event(api: ShopApi, member_id: str) -> int:
    body = {
        "type": "cart.updated",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2025-03-03T12:00:00+09:00",
        "member_id": member_id,
        **cart_body(f"C-{uuid.uuid4().hex[:8]}"),
    }
    return api.post("/events", body).status_code


def _delete(api: ShopApi, member_id: str) -> int:
    return api.delete("/members/" + quote(member_id, safe="")).status_code


@pytest.mark.parametrize("member_id", ["MNL\n", "M7\r\n", "会員１", "M 7", "M7\t", "Ｍ７", ""])
def test_intake_refuses_ids_outside_the_grammar(api: ShopApi, member_id: str) -> None:
    cleared = {
        "type": "cart.cleared",
        "event_id": "e1",
        "occurred_at": "2025-03-03T12:00:00Z",
        "cart_id": "C1",
    }
    for path, body in (
        ("/events", cleared),
        ("/links", {"line_user_id": SHOPPER_ID}),
        ("/link-nonces", {"link_token": "tok"}),
    ):
        response = api.post(path, {**body, "member_id": member_id})
        assert response.status_code == 400, (path, response.json)
        assert response.json["error"]["field"] == "member_id"
    assert _delete(api, member_id) in (400, 404, 405)  # never a member that exists


def test_a_line_user_id_with_a_trailing_newline_is_refused(api: ShopApi) -> None:
    response = api.post("/links", {"member_id": "M7", "line_user_id": SHOPPER_ID + "\n"})
    assert response.status_code == 400
    assert response.json["error"]["field"] == "line_user_id"


@pytest.mark.parametrize("member_id", ODD_IDS)
def test_odd_ids_linked_by_the_api_are_read_unlinked_and_erased_by_their_path(
    api: ShopApi, member_id: str
) -> None:
    link = {"member_id": member_id, "line_user_id": SHOPPER_ID}
    assert api.post("/links", link).status_code == 201
    encoded = quote(member_id, safe="")
    assert api.get(f"/members/{encoded}").json["member_id"] == member_id
    assert api.delete(f"/links/{encoded}").status_code == 204
    assert api.get(f"/members/{encoded}").json["linked"] is False
    assert api.delete(f"/members/{encoded}").status_code == 204
    assert api.get(f"/members/{encoded}").status_code == 404


@FIXTURE_SETTINGS
@given(member_id=st.from_regex(MEMBER_ID_PATTERN, fullmatch=True))
@example(member_id="/7").via("a leading slash")
@example(member_id="a/../b").via("a dot segment")
@example(member_id="x" * 128).via("the longest")
def test_every_id_accepted_at_intake_is_erasable_by_delete(api: ShopApi, member_id: str) -> None:
    assert _cart_event(api, member_id) == 202
    assert _delete(api, member_id) == 204


@FIXTURE_SETTINGS
@given(member_id=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=130))
@example(member_id="MNL\n").via("a trailing newline")
@example(member_id="会員１").via("full-width")
@example(member_id="M 7").via("a space")
def test_intake_and_delete_agree_on_every_string(api: ShopApi, member_id: str) -> None:
    accepted = _cart_event(api, member_id) == 202
    assert accepted == is_member_id(member_id)
    assert (_delete(api, member_id) != 400) == accepted


def test_the_openapi_document_uses_the_same_grammar_everywhere() -> None:
    doc = document(build_shop_api())
    schemas = doc["components"]["schemas"]
    member_id_schemas = [
        schemas["LinkRequest"]["properties"]["member_id"],
        schemas["LinkNonceRequest"]["properties"]["member_id"],
        schemas["CartUpdatedEvent"]["properties"]["member_id"],
        schemas["OrderPlacedEvent"]["properties"]["member_id"],
        *(
            param["schema"]
            for item in doc["paths"].values()
            for operation in item.values()
            for param in operation.get("parameters", [])
            if param.get("name") == "member_id"
        ),
    ]
    assert len(member_id_schemas) > 5
    assert {schema["pattern"] for schema in member_id_schemas} == {MEMBER_ID_PATTERN}
