"""Linking and unlinking switch the shopper's rich menu through a job; LINE failing there
never fails the link."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from redis import Redis
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from bot.core.db import Database
from bot.line.gateway import InMemoryLineGateway, LineClientError, LineServerError
from bot.models import Shopper
from bot.richmenu.switching import switch_rich_menu
from line_emulator.server import EmulatorServer
from tests.helpers.line import SHOPPER_ID
from tests.helpers.richmenu import SAMPLE_FILE
from tests.helpers.shop_api import ShopApi


def apply_sample(app: Flask) -> dict[str, str]:
    result = app.test_cli_runner().invoke(args=["richmenu", "apply", str(SAMPLE_FILE)])
    assert result.exit_code == 0, result.output
    from sqlalchemy import select

    from bot.models import AppliedRichMenu

    with app.app_context():
        rows = app.extensions["bot"].db.session().scalars(select(AppliedRichMenu))
        return {row.name: row.rich_menu_id for row in rows}


def shopper_id(app: Flask, line_user_id: str = SHOPPER_ID) -> int:
    from sqlalchemy import select

    with app.app_context():
        session = app.extensions["bot"].db.session()
        return session.scalars(select(Shopper.id).where(Shopper.line_user_id == line_user_id)).one()


def test_link_gives_the_member_menu_and_unlink_takes_it_away(
    app: Flask, api: ShopApi, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    menus = apply_sample(app)
    line.calls.clear()
    assert api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID}).status_code == 201
    run_jobs()
    assert line.user_menus == {SHOPPER_ID: menus["member"]}
    assert line.sent("link_rich_menu") == [{"user_id": SHOPPER_ID, "rich_menu_id": menus["member"]}]
    assert api.delete("/links/M1").status_code == 204
    run_jobs()
    # Unlinked shoppers see the default (guest) menu: their own link is removed.
    assert line.user_menus == {}
    assert line.sent("unlink_rich_menu") == [{"user_id": SHOPPER_ID}]
    assert line.default_menu == menus["guest"]


def test_no_menus_applied_no_switch(
    app: Flask, api: ShopApi, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    assert api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID}).status_code == 201
    run_jobs()
    assert line.sent("link_rich_menu") == [] and line.sent("unlink_rich_menu") == []


def test_moving_a_member_switches_both_shoppers(
    app: Flask, api: ShopApi, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    menus = apply_sample(app)
    other = "U" + "9" * 32
    api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID})
    run_jobs()
    api.post("/links", {"member_id": "M1", "line_user_id": other})  # the member moves
    run_jobs()
    assert line.user_menus == {other: menus["member"]}


def test_line_5xx_retries_the_switch_and_the_link_stands(
    app: Flask,
    api: ShopApi,
    line: InMemoryLineGateway,
    run_jobs: Callable[[], int],
    redis: Redis,
    db: Database,
) -> None:
    menus = apply_sample(app)
    line.fail_next(LineServerError("Internal server error", status=500))
    assert api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID}).status_code == 201
    run_jobs()
    assert line.user_menus == {}
    scheduled = ScheduledJobRegistry("default", connection=redis)
    (job_id,) = scheduled.get_job_ids()  # waiting for its retry, not failed for good
    assert FailedJobRegistry("default", connection=redis).get_job_ids() == []
    with app.app_context():
        assert db.session.get(Shopper, shopper_id(app)).member_id == "M1"
    with app.app_context():
        switch_rich_menu(shopper_id(app))  # the retry
    assert line.user_menus == {SHOPPER_ID: menus["member"]}


def test_line_4xx_is_logged_not_retried(
    app: Flask,
    api: ShopApi,
    line: InMemoryLineGateway,
    run_jobs: Callable[[], int],
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    apply_sample(app)
    no_image = "must upload richmenu image before applying it to user"
    line.fail_next(LineClientError(no_image, status=400))
    assert api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID}).status_code == 201
    with caplog.at_level(logging.WARNING, logger="bot.richmenu.switching"):
        run_jobs()
    assert "rich menu not switched" in caplog.text
    assert len(line.sent("link_rich_menu")) == 1 and line.user_menus == {}
    assert ScheduledJobRegistry("default", connection=redis).get_job_ids() == []
    assert FailedJobRegistry("default", connection=redis).get_job_ids() == []


def test_rolled_back_link_queues_nothing(
    app: Flask, line: InMemoryLineGateway, redis: Redis
) -> None:
    from bot.linking import service as linking
    from bot.models import LinkSource

    apply_sample(app)
    with app.app_context():
        services = app.extensions["bot"]
        session = services.db.session()
        linking.link_member(session, "M1", SHOPPER_ID, services.clock.now(), LinkSource.API)
        session.rollback()
        session.commit()  # a later commit of the same session must not queue the lost switch
    assert services.queues.default.count == 0


def test_switch_over_http_survives_a_line_500(
    e2e_app: Flask,
    emulator: EmulatorServer,
    e2e_jobs: Callable[[], None],
    redis: Redis,
) -> None:
    menus = apply_sample(e2e_app)
    user = emulator.add_user(display_name="佐藤 花子")["userId"]
    api = ShopApi(e2e_app.test_client())
    emulator.fail_next(500, path="/v2/bot/user/*/richmenu/*")
    assert api.post("/links", {"member_id": "M7", "line_user_id": user}).status_code == 201
    e2e_jobs()
    assert emulator.rich_menu_of(user) == menus["guest"]  # still the default, no gap
    (attempt,) = [r for r in emulator.requests() if r["path"].startswith(f"/v2/bot/user/{user}")]
    assert attempt["status"] == 500
    assert len(ScheduledJobRegistry("default", connection=redis).get_job_ids()) == 1
    with e2e_app.app_context():
        switch_rich_menu(shopper_id(e2e_app, user))  # the retry, LINE is back
    assert emulator.rich_menu_of(user) == menus["member"]
    assert api.delete("/links/M7").status_code == 204
    e2e_jobs()
    assert emulator.rich_menu_of(user) == menus["guest"]
    assert emulator.rich_menu_state()["users"] == {}


def test_menu_replaced_meanwhile_is_read_again(
    app: Flask, api: ShopApi, line: InMemoryLineGateway, run_jobs: Callable[[], int]
) -> None:
    menus = apply_sample(app)
    line.fail_next(LineClientError("richmenu not found", status=404))
    assert api.post("/links", {"member_id": "M1", "line_user_id": SHOPPER_ID}).status_code == 201
    run_jobs()
    assert len(line.sent("link_rich_menu")) == 2
    assert line.user_menus == {SHOPPER_ID: menus["member"]}
