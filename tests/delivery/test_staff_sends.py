"""Test delivery to staff: rendering, marking, sending and the `flask deliveries test` command.

A test send reaches the staff's own LINE account only, marked 【テスト配信】, and leaves no trace
the engine counts: no Flow or Delivery rows, no tracked links, no daily cap used.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.delivery import staff_sends
from bot.delivery.receivers import delivery_rules
from bot.delivery.staff_recipients import Recipient
from bot.line.gateway import LineClientError, LineServerError
from bot.models import DeliveryState, StaffSend
from line_messages.validation import ALT_TEXT_MAX, validate_messages
from tests.helpers.console import make_operator
from tests.helpers.delivery import MEMBER, MUG, cart_body, order_body, pushes
from tests.helpers.line import SHOPPER_ID, strings
from tests.helpers.staff import audit, counts, recipient_users, register

STAFF_A = "U" + "a" * 32
STAFF_B = "U" + "b" * 32


@pytest.fixture
def staff(app) -> dict[str, int]:
    """Two operators with registered test recipients."""
    sato = make_operator(app, "sato@example.jp", "佐藤")
    suzuki = make_operator(app, "suzuki@example.jp", "鈴木")
    register(app, sato, STAFF_A)
    register(app, suzuki, STAFF_B)
    return {"sato": sato, "suzuki": suzuki}


def run_cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["deliveries", "test", *args])


def every_option(app) -> list[str]:
    with app.app_context():
        services = app.extensions["bot"]
        return [
            v for v, _ in staff_sends.options(delivery_rules(services).book, services.templates)
        ]


# -- marking --------------------------------------------------------------------------------


def test_a_flex_message_is_marked_in_its_alt_text_and_its_first_bubble():
    bubble = {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": "本文"}],
        },
    }
    message = {"type": "flex", "altText": "カートに商品が残っています", "contents": bubble}
    marked = staff_sends.mark(message)
    assert marked["altText"] == "【テスト配信】カートに商品が残っています"
    assert marked["contents"]["body"]["contents"][0]["text"] == "【テスト配信】"
    assert message["altText"] == "カートに商品が残っています"  # the original is untouched
    assert validate_messages([marked]) == []


def test_the_mark_keeps_to_lines_limits():
    message = {
        "type": "flex",
        "altText": "あ" * ALT_TEXT_MAX,
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "baseline",
                "contents": [{"type": "text", "text": "x"}],
            },
        },
    }
    marked = staff_sends.mark(message)
    assert marked["altText"].startswith("【テスト配信】") and len(marked["altText"]) == ALT_TEXT_MAX
    # A baseline body would be broken by a line on top: only the alt text carries the mark.
    assert marked["contents"] == message["contents"]


def test_a_text_message_is_marked_on_its_first_line():
    marked = staff_sends.mark({"type": "text", "text": "ご注文ありがとうございます"})
    assert marked["text"] == "【テスト配信】\nご注文ありがとうございます"


def test_every_step_and_template_renders_with_its_sample_data(app):
    values = every_option(app)
    assert "step:cart_abandonment/incentive@coupon" in values
    assert "template:cart_reminder" in values
    with app.app_context():
        services = app.extensions["bot"]
        book = delivery_rules(services).book
        for value in values:
            choice = staff_sends.parse_option(value, book, services.templates)
            data = staff_sends.sample_data(services.templates, choice, services.settings)
            message = staff_sends.render_test(services.templates, choice, data)
            assert validate_messages([message]) == [], value
            assert (message.get("altText") or message.get("text")).startswith("【テスト配信】")


def test_a_step_variant_takes_its_own_data(app):
    with app.app_context():
        services = app.extensions["bot"]
        book = delivery_rules(services).book
        choice = staff_sends.step_choice(
            book, services.templates, "cart_abandonment", "incentive", "coupon"
        )
        data = staff_sends.sample_data(services.templates, choice, services.settings)
    assert data["coupon"]["code"] == "KAGO300"
    assert data["shop_name"] == services.settings.shop_name


# -- the command line ----------------------------------------------------------------------


def test_cli_sends_a_step_to_one_staff_member_with_sample_data(app, line, staff):
    result = run_cli(app, "cart_abandonment", "reminder", "--to", "Sato@example.jp")
    assert result.exit_code == 0, result.output
    assert "sent" in result.output and "cart_abandonment/reminder" in result.output
    [push] = line.sent("push")
    assert push["to"] == STAFF_A
    assert push["retry_key"]
    assert push["messages"][0]["altText"].startswith("【テスト配信】")
    # Plain links: no tracking token that would attribute a click.
    assert not any("/r/" in s for s in strings(push["messages"]))
    assert counts(app) == {"deliveries": 0, "flows": 0, "sends": 1}
    [row] = audit(app)
    assert (row.sent_by, row.line_user_id, row.scenario_id, row.step_id, row.state) == (
        "command line",
        STAFF_A,
        "cart_abandonment",
        "reminder",
        "sent",
    )
    assert row.member_id is None and row.recipient_id == staff["sato"]


def test_cli_sends_to_all_staff(app, line, staff):
    result = run_cli(app, "cart_abandonment", "incentive", "--variant", "coupon", "--to", "all")
    assert result.exit_code == 0, result.output
    assert sorted(p["to"] for p in line.sent("push")) == [STAFF_A, STAFF_B]
    assert {r.variant for r in audit(app)} == {"coupon"}


def test_cli_sends_a_template_with_a_members_real_data(app, line, shop, staff):
    assert shop.event("cart.updated", cart_body("C9")).status_code == 202
    planned = counts(app)  # the real flow and its three steps
    result = run_cli(app, "--template", "cart_reminder", "--member", MEMBER, "--to", "all")
    assert result.exit_code == 0, result.output
    texts = strings(line.sent("push")[0]["messages"])
    assert MUG["name"] in texts
    assert "https://shop.example.jp/cart/C9" in texts
    assert any(t.startswith("【テスト配信】") for t in texts)
    assert counts(app) == {**planned, "sends": 2}
    assert {r.member_id for r in audit(app)} == {MEMBER}


def test_cli_renders_an_order_step_with_the_members_latest_order(app, line, shop, staff):
    shop.event("order.placed", order_body("O77"))
    shop.run()
    before = counts(app)
    result = run_cli(app, "order_thanks", "thanks", "--member", MEMBER, "--to", "suzuki@example.jp")
    assert result.exit_code == 0, result.output
    push = line.sent("push")[-1]
    assert push["to"] == STAFF_B
    assert "O77" in " ".join(strings(push["messages"]))
    assert counts(app) == {**before, "sends": before["sends"] + 1}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["cart_abandonment", "reminder", "--to", "nobody@example.jp"], "no staff account"),
        (["cart_abandonment", "nothing", "--to", "all"], "ステップ「nothing」はありません"),
        (["--template", "nothing", "--to", "all"], "テンプレート「nothing」はありません"),
        (["cart_abandonment", "reminder", "--member", "M0", "--to", "all"], "会員ID「M0」"),
        (["--to", "all"], "give SCENARIO STEP"),
    ],
)
def test_cli_says_what_is_wrong(app, line, staff, args, said):
    result = run_cli(app, *args)
    assert result.exit_code != 0
    assert said in result.output
    assert line.sent("push") == []


def test_cli_refuses_a_staff_member_without_a_recipient(app, line, staff):
    make_operator(app, "tanaka@example.jp", "田中")
    result = run_cli(app, "cart_abandonment", "reminder", "--to", "tanaka@example.jp")
    assert result.exit_code != 0 and "no test recipient" in result.output


def test_cli_reports_a_refused_push_in_japanese_and_records_it(app, line, staff):
    line.fail_next(LineClientError("Failed to send messages", status=400))
    result = run_cli(app, "cart_abandonment", "reminder", "--to", "all")
    assert result.exit_code == 1
    assert "LINEがメッセージを受け付けませんでした" in result.output
    assert sorted(r.state for r in audit(app)) == ["failed", "sent"]


# -- sending -------------------------------------------------------------------------------


def test_the_same_send_key_never_sends_twice(app, line, staff):
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        choice = staff_sends.template_choice(services.templates, "purchase_thanks")
        data = staff_sends.sample_data(services.templates, choice, services.settings)
        message = staff_sends.render_test(services.templates, choice, data)
        target = Recipient(
            staff["sato"], "佐藤", "sato@example.jp", STAFF_A, None, services.clock.now(), True
        )
        outcomes = []
        for _ in range(2):
            outcomes.append(
                staff_sends.send(
                    session,
                    services.line,
                    choice,
                    message,
                    [target],
                    member_id=None,
                    sent_by="sato@example.jp",
                    sender_id=staff["sato"],
                    send_key="double-click-key-1",
                    now=services.clock.now(),
                )
            )
            session.commit()
        rows = session.scalars(select(StaffSend)).all()
    assert [o.reports[0].state for o in outcomes] == ["sent", "duplicate"]
    assert len(line.sent("push")) == 1 and len(rows) == 1


def test_a_server_error_is_explained_not_raised(app, line, staff):
    line.fail_next(LineServerError("Internal error", status=500))
    result = run_cli(app, "--template", "shipping_notice", "--to", "sato@example.jp")
    assert result.exit_code == 1
    assert "LINEに接続できませんでした" in result.output


def test_test_sends_use_no_daily_cap(app, line, shop, staff):
    """The staff member is also a shopper: their real reminder still goes out after tests."""
    register_shopper = make_operator(app, "yamada@example.jp", "山田")
    register(app, register_shopper, SHOPPER_ID)
    for _ in range(3):  # more than the daily marketing cap (2)
        assert (
            run_cli(app, "cart_abandonment", "incentive", "--to", "yamada@example.jp").exit_code
            == 0
        )
    assert shop.event("cart.updated", cart_body()).status_code == 202
    shop.at(shop.now + timedelta(minutes=16))
    shop.tick()
    reminder = shop.delivery("reminder")
    assert reminder.state is DeliveryState.SENT
    assert len(pushes(line)) == 4


def test_erasing_a_member_erases_them_from_test_sends_and_recipients(app, line, shop, staff):
    assert shop.event("cart.updated", cart_body()).status_code == 202
    assert (
        run_cli(app, "--template", "cart_reminder", "--member", MEMBER, "--to", "all").exit_code
        == 0
    )
    yamada = make_operator(app, "yamada@example.jp", "山田")
    register(app, yamada, SHOPPER_ID)  # the member's LINE account is also a staff recipient
    assert shop.api.delete(f"/members/{MEMBER}").status_code == 204
    assert {r.member_id for r in audit(app)} == {"erased"}
    assert SHOPPER_ID not in recipient_users(app).values()
