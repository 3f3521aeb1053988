"""Console pages of test delivery: an operator's own registration code, the admin's test send
(one or all recipients, sample or member data), its audit, and who may do what."""

from __future__ import annotations

import re

import pytest
from freezegun import freeze_time

from bot.line.gateway import LineClientError, LineRateLimited
from tests.helpers.console import NOW, post
from tests.helpers.delivery import MEMBER, MUG, add_shopper, cart_body
from tests.helpers.line import SHOPPER_ID, strings, typed
from tests.helpers.shop_api import ShopApi
from tests.helpers.staff import audit, counts, recipient_users, register

STAFF_A = "U" + "a" * 32
STAFF_B = "U" + "b" * 32
PAGE = "/console/admin/test-delivery"


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time(NOW) as clock:
        yield clock


@pytest.fixture
def recipients(app, operator_id, admin_id) -> None:
    register(app, operator_id, STAFF_A)
    register(app, admin_id, STAFF_B)


def send_key(client) -> str:
    page = client.get(PAGE).get_data(as_text=True)
    return re.search(r'name="send_key" value="([^"]+)"', page).group(1)


def flashes(client) -> str:
    return client.get(PAGE).get_data(as_text=True)


# -- an operator's own registration ------------------------------------------------------------


def test_an_operator_gets_a_code_and_registers_their_line_account(
    app, client, run_jobs, line, as_operator, operator_id
):
    assert "まだ登録されていません" in as_operator.get("/console/test-recipient").get_data(True)
    page = post(as_operator, "/console/test-recipient/code").get_data(as_text=True)
    shown = re.search(r"テスト [A-Z0-9]{4}-[A-Z0-9]{4}", page).group(0)
    typed(client, run_jobs, shown)
    assert recipient_users(app) == {operator_id: SHOPPER_ID}
    assert "登録済み" in as_operator.get("/console/test-recipient").get_data(True)


def test_an_operator_removes_their_registration(app, as_operator, operator_id, admin_id):
    register(app, operator_id, STAFF_A)
    register(app, admin_id, STAFF_B)
    response = post(as_operator, "/console/test-recipient/remove")
    assert response.status_code == 303
    assert recipient_users(app) == {admin_id: STAFF_B}


def test_the_code_is_never_put_in_the_session_cookie(as_operator):
    page = post(as_operator, "/console/test-recipient/code").get_data(as_text=True)
    code = re.search(r"テスト ([A-Z0-9]{4})-([A-Z0-9]{4})", page)
    with as_operator.session_transaction() as session:
        assert code.group(1) + code.group(2) not in repr(dict(session))


# -- who may do what ---------------------------------------------------------------------------


def test_only_admins_see_or_use_the_test_delivery_page(app, line, as_operator, recipients):
    assert as_operator.get(PAGE).status_code == 403
    sent = post(as_operator, PAGE, what="template:cart_reminder", to="all", send_key="k" * 22)
    assert sent.status_code == 403
    assert post(as_operator, f"{PAGE}/recipients/1/remove").status_code == 403
    assert line.sent("push") == []


def test_signed_out_visitors_are_sent_to_the_login(client):
    assert client.get(PAGE).status_code == 302
    assert client.get("/console/test-recipient").status_code == 302
    assert client.post("/console/test-recipient/code").status_code in (400, 401)


def test_a_send_without_the_csrf_token_is_refused(line, as_admin, recipients):
    response = as_admin.post(PAGE, data={"what": "template:cart_reminder", "to": "all"})
    assert response.status_code == 400
    assert as_admin.post("/console/test-recipient/code").status_code == 400
    assert line.sent("push") == []


# -- sending -----------------------------------------------------------------------------------


def test_admin_sends_a_step_to_one_recipient_with_sample_data(
    app, line, as_admin, recipients, operator_id
):
    response = post(
        as_admin,
        PAGE,
        what="step:cart_abandonment/reminder",
        to=str(operator_id),
        data="sample",
        send_key=send_key(as_admin),
    )
    assert response.status_code == 303
    [push] = line.sent("push")
    assert push["to"] == STAFF_A
    assert push["messages"][0]["altText"].startswith("【テスト配信】")
    assert counts(app) == {"deliveries": 0, "flows": 0, "sends": 1}
    [row] = audit(app)
    assert (row.sent_by, row.recipient_id, row.state) == ("kanri@example.jp", operator_id, "sent")
    page = flashes(as_admin)
    assert "佐藤さんにcart_abandonment/reminderを送信しました" in page
    assert "kanri@example.jp" in page and "見本データ" in page  # the audit list


def test_admin_sends_a_template_to_all_with_a_members_data(app, line, as_admin, recipients):
    add_shopper(app, line_user_id="U" + "c" * 32, member_id=MEMBER, now=NOW)
    api = ShopApi(app.test_client())
    event = {"type": "cart.updated", "event_id": "e1", "occurred_at": NOW.isoformat()}
    assert api.post("/events", {**event, "member_id": MEMBER, **cart_body("C5")}).status_code == 202
    before = counts(app)
    response = post(
        as_admin,
        PAGE,
        what="template:cart_reminder",
        to="all",
        data="member",
        member_id=MEMBER,
        send_key=send_key(as_admin),
    )
    assert response.status_code == 303
    pushed = line.sent("push")
    assert sorted(p["to"] for p in pushed) == [STAFF_A, STAFF_B]
    for push in pushed:
        assert push["messages"][0]["altText"].startswith("【テスト配信】")
        assert MUG["name"] in strings(push["messages"])
        assert "https://shop.example.jp/cart/C5" in strings(push["messages"])
    assert counts(app) == {**before, "sends": 2}
    assert f"会員 {MEMBER}" in flashes(as_admin)


def test_a_double_click_sends_once(line, as_admin, recipients):
    key = send_key(as_admin)
    for _ in range(2):
        post(as_admin, PAGE, what="template:purchase_thanks", to="all", send_key=key)
    assert len(line.sent("push")) == 2  # one per recipient
    assert "送信済みです" in flashes(as_admin)


def test_a_line_error_is_shown_in_japanese_not_as_a_500(app, line, as_admin, recipients):
    line.fail_next(LineClientError("The user hasn't added the LINE Official Account", status=400))
    line.fail_next(LineRateLimited("Too many requests", status=429))
    response = post(
        as_admin, PAGE, what="template:shipping_notice", to="all", send_key=send_key(as_admin)
    )
    assert response.status_code == 303
    page = flashes(as_admin)
    assert "LINEがメッセージを受け付けませんでした" in page
    assert "混み合っています" in page
    assert sorted(r.state for r in audit(app)) == ["failed", "failed"]


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"what": "template:nothing"}, "テンプレート「nothing」はありません"),
        ({"what": "step:cart_abandonment/x"}, "ステップ「x」はありません"),
        ({"what": "template:cart_reminder", "data": "member", "member_id": "M404"}, "M404"),
    ],
)
def test_a_bad_choice_is_explained(line, as_admin, recipients, form, said):
    response = post(as_admin, PAGE, to="all", send_key=send_key(as_admin), **form)
    assert response.status_code == 303
    assert said in flashes(as_admin)
    assert line.sent("push") == []


def test_a_disabled_operators_account_is_not_sent_to(app, line, as_admin, recipients, operator_id):
    post(as_admin, f"/console/admin/operators/{operator_id}", active="0")
    post(as_admin, PAGE, what="template:cart_reminder", to="all", send_key=send_key(as_admin))
    assert [p["to"] for p in line.sent("push")] == [STAFF_B]
    assert "無効なアカウント" in flashes(as_admin)


def test_admin_removes_a_recipient(app, as_admin, recipients, operator_id, admin_id):
    response = post(as_admin, f"{PAGE}/recipients/{operator_id}/remove")
    assert response.status_code == 303
    assert recipient_users(app) == {admin_id: STAFF_B}
