"""Liveness you can alert on: /healthz, the gauges and `flask deliveries health` agree, and go
unhealthy naming the part when the dispatcher stops or deliveries are late.
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.schedule import record_run
from bot.delivery import engine as deliveries
from bot.models import WebhookEvent, WebhookEventState
from tests.helpers.delivery import START, cart_body

M15 = timedelta(minutes=15)
DUE = START + M15  # the fixture shopper's cart reminder is due then


def _ran(app, at) -> None:
    """The dispatcher finished a run at `at`."""
    with app.app_context():
        session = app.extensions["bot"].db.session()
        record_run(session, "dispatch_due_deliveries", at, at)
        session.commit()


def _gauge(client, name: str) -> float | None:
    text = client.get("/metrics").get_data(as_text=True)
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return None if found is None else float(found[1])


def test_a_new_installation_is_healthy(shop, client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json
    assert response.json["dispatcher_age_seconds"] is None
    assert response.json["oldest_due_age_seconds"] == 0
    assert _gauge(client, "bot_dispatcher_last_run_age_seconds") is None  # absent until a run


def test_a_stopped_dispatcher_turns_healthz_503_naming_it(shop, client, redis):
    _ran(shop.app, START)
    shop.at(START + timedelta(seconds=60))  # the default limit
    assert client.get("/healthz").status_code == 200
    assert _gauge(client, "bot_dispatcher_last_run_age_seconds") == 60
    redis.flushdb()  # the record is in the database: a flush changes nothing
    shop.at(START + timedelta(seconds=61))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert response.json["checks"]["dispatcher"] == "stale: last run 61 s ago (limit 60 s)"
    assert {k for k, v in response.json["checks"].items() if v != "ok"} == {"dispatcher"}
    assert response.json["dispatcher_age_seconds"] == 61
    _ran(shop.app, START + timedelta(seconds=61))
    assert client.get("/healthz").status_code == 200


def test_a_late_delivery_turns_healthz_503_until_it_is_sent(shop, client):
    shop.event("cart.updated", cart_body("C1"))
    shop.at(DUE + timedelta(seconds=300))
    _ran(shop.app, shop.now)  # the dispatcher runs, but (say) no sender takes the rows
    assert client.get("/healthz").status_code == 200
    assert _gauge(client, "bot_deliveries_oldest_due_age_seconds") == 300
    shop.at(DUE + timedelta(seconds=301))
    _ran(shop.app, shop.now)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["deliveries"] == (
        "late: oldest unsent delivery due 301 s ago (limit 300 s)"
    )
    shop.tick()
    assert client.get("/healthz").status_code == 200
    assert _gauge(client, "bot_deliveries_oldest_due_age_seconds") == 0


def test_rows_claimed_by_a_dead_worker_count_as_late_after_the_lease(shop, client):
    shop.event("cart.updated", cart_body("C1"))
    shop.at(DUE)
    with shop.app.app_context():
        from bot.delivery import jobs as delivery_jobs

        assert delivery_jobs.dispatch_due_deliveries() == 1  # claimed; its worker never runs
    lease = shop.app.extensions["bot"].settings.delivery_lease_seconds
    shop.at(DUE + timedelta(seconds=lease - 1))
    _ran(shop.app, shop.now)
    assert _gauge(client, "bot_deliveries_oldest_due_age_seconds") == 0  # a live batch, maybe
    shop.at(DUE + timedelta(seconds=lease + 1))
    _ran(shop.app, shop.now)
    assert _gauge(client, "bot_deliveries_oldest_due_age_seconds") == lease + 1
    shop.at(DUE + timedelta(seconds=301))
    _ran(shop.app, shop.now)
    assert client.get("/healthz").json["checks"]["deliveries"].startswith("late:")


def test_marketing_held_for_lines_monthly_limit_is_not_late(shop, client):
    shop.event("cart.updated", cart_body("C1"))
    shop.at(DUE + timedelta(minutes=5))
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        deliveries.pause_marketing(session, DUE + timedelta(hours=1), "月間上限", DUE)
        session.commit()
    _ran(shop.app, shop.now)
    assert client.get("/healthz").status_code == 200
    assert _gauge(client, "bot_deliveries_oldest_due_age_seconds") == 0


def test_failed_webhook_events_are_a_gauge(shop, client):
    with shop.app.app_context():
        session = shop.app.extensions["bot"].db.session()
        for n, state in enumerate(["failed", "failed", "handled", "received"]):
            session.add(
                WebhookEvent(
                    webhook_event_id=f"01FAILED{n}",
                    event_type="message",
                    line_user_id="U" + "2" * 32,
                    payload={"type": "message"},
                    state=WebhookEventState(state),
                    error="テスト用の失敗" if state == "failed" else None,
                    occurred_at=START,
                    received_at=START,
                )
            )
        session.commit()
    assert _gauge(client, "bot_webhook_events_failed") == 2


def test_cli_health_prints_the_same_and_exits_non_zero_when_unhealthy(shop, app):
    runner = app.test_cli_runner()
    _ran(shop.app, START)
    ok = runner.invoke(args=["deliveries", "health"])
    assert ok.exit_code == 0, ok.output
    assert "dispatcher  ok" in ok.output
    assert "dispatch_due_deliveries" in ok.output
    shop.at(START + timedelta(seconds=90))
    bad = runner.invoke(args=["deliveries", "health"])
    assert bad.exit_code == 1
    assert "UNHEALTHY" in bad.output
    assert "stale: last run 90 s ago (limit 60 s)" in bad.output
    as_json = runner.invoke(args=["deliveries", "health", "--json"])
    assert as_json.exit_code == 1
    assert '"dispatcher_age_seconds": 90.0' in as_json.output


def test_gauges_are_served_when_processes_share_their_metrics(shop, client, monkeypatch, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR (gunicorn's processes together) the gauges still come
    from the database, once, whichever process answers."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    _ran(shop.app, START)
    shop.at(START + timedelta(seconds=12))
    text = client.get("/metrics").get_data(as_text=True)
    assert text.count("\nbot_dispatcher_last_run_age_seconds 12.0") == 1
