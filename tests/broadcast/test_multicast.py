"""Sending a broadcast with the in-memory gateway: batches, retry keys, the rules per shopper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time

from bot.broadcast import compose
from bot.broadcast.sending import LEASE, MONTHLY_LIMIT_TEXT, batch_retry_key
from bot.delivery.send_rules import ALREADY_ACCEPTED
from bot.line.gateway import (
    InMemoryLineGateway,
    LineClientError,
    LineMonthlyLimit,
    LineServerError,
    LineTimeout,
    MessageQuota,
)
from tests.helpers.broadcast import (
    NOON,
    SALE_ALT,
    add_shoppers,
    broadcast_row,
    logged,
    make_broadcast,
    outcomes,
    recipient_states,
    run_sender,
    script_multicasts,
    user_id,
)
from tests.helpers.delivery import pushes


def test_1201_recipients_go_out_in_three_multicasts(app, line: InMemoryLineGateway):
    add_shoppers(app, 1201)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        counts = run_sender(app, broadcast_id)
    requests = line.sent("multicast")
    assert [len(r["to"]) for r in requests] == [500, 500, 201]
    assert sorted(u for r in requests for u in r["to"]) == sorted(
        user_id(n) for n in range(1, 1202)
    )
    assert [r["retry_key"] for r in requests] == [
        batch_retry_key(broadcast_id, n) for n in (1, 2, 3)
    ]
    assert all(r["messages"][0]["altText"] == "夏のセール開催中！全品10%OFF" for r in requests)
    assert counts["sent"] == 1201 and counts["requests"] == 3
    assert outcomes(app, broadcast_id) == {"sent": 1201}
    assert broadcast_row(app, broadcast_id).state.value == "done"
    assert line.sent("push") == []
    # Staff see it in each shopper's chat, by its notification text.
    log = logged(app)
    assert len(log) == 1201 and {tuple(t) for t in log.values()} == {(SALE_ALT,)}


def test_opted_out_are_skipped_and_blocked_are_not_in_the_audience(app, line):
    sending = add_shoppers(app, 3)
    opted_out = add_shoppers(app, 2, start=10, opted_in=False)
    add_shoppers(app, 2, start=20, following=False)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    states = recipient_states(app, broadcast_id)
    assert len(states) == 5  # the blocked ones were never in the audience
    assert {states[s] for s in opted_out} == {("skipped", "opted out")}
    assert {states[s][0] for s in sending} == {"sent"}
    assert sorted(line.sent("multicast")[0]["to"]) == [user_id(n) for n in (1, 2, 3)]


def test_quiet_hours_defer_to_the_morning_and_the_dispatcher_sends_then(app, line):
    add_shoppers(app, 2)
    night = NOON.replace(hour=14)  # 23:00 in Tokyo
    with freeze_time(night):
        broadcast_id = make_broadcast(app, send_at=night)
        run_sender(app, broadcast_id)
        assert line.sent("multicast") == []
        assert outcomes(app, broadcast_id) == {"deferred": 2}
        row = broadcast_row(app, broadcast_id)
        assert row.state.value == "sending"
        morning = NOON.replace(day=2, hour=0)  # 09:00 in Tokyo, the end of quiet hours
        assert row.next_due_at == morning
    with freeze_time(morning - timedelta(minutes=1)):
        run_sender(app, broadcast_id)
        assert line.sent("multicast") == []
    with freeze_time(morning):
        run_sender(app, broadcast_id)
    assert len(line.sent("multicast")[0]["to"]) == 2
    assert outcomes(app, broadcast_id) == {"sent": 2}
    assert broadcast_row(app, broadcast_id).state.value == "done"


def test_the_daily_cap_counts_broadcasts(app, line):
    add_shoppers(app, 1)
    capped = app.extensions["bot"].settings.daily_marketing_cap
    with freeze_time(NOON):
        ids = [make_broadcast(app, key=f"key-{n:02d}" * 3) for n in range(capped + 1)]
        for broadcast_id in ids:
            run_sender(app, broadcast_id)
    assert len(line.sent("multicast")) == capped
    assert list(recipient_states(app, ids[-1]).values()) == [("deferred", "postponed: daily cap")]


def test_quota_refusal_names_the_figures(app, line: InMemoryLineGateway):
    add_shoppers(app, 5)
    add_shoppers(app, 3, start=50, opted_in=False)  # not counted: they are not sent to
    line.quota = MessageQuota(limit=1000, used=996)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    row = broadcast_row(app, broadcast_id)
    assert row.state.value == "refused"
    assert "残り送信数（4通）" in row.reason and "配信対象（5人）" in row.reason
    assert line.sent("multicast") == []
    line.quota = MessageQuota(limit=1000, used=995)  # exactly enough now, for a new one
    with freeze_time(NOON):
        second = make_broadcast(app, key="another-key-0001")
        run_sender(app, second)
    assert outcomes(app, second) == {"sent": 5, "skipped": 3}


def test_monthly_limit_stops_and_marks_the_rest_not_sent(app, line: InMemoryLineGateway):
    add_shoppers(app, 1200)
    # The first batch goes through, the second hits the limit.
    calls = script_multicasts(
        line, None, LineMonthlyLimit("You have reached your monthly limit.", status=429)
    )
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id, threads=1)
    assert len(calls) == 2  # nothing was tried after the limit
    assert outcomes(app, broadcast_id) == {"sent": 500, "not_sent": 700}
    row = broadcast_row(app, broadcast_id)
    assert row.state.value == "stopped" and row.reason == MONTHLY_LIMIT_TEXT


def test_server_errors_retry_the_batch_with_the_same_key(app, line: InMemoryLineGateway):
    add_shoppers(app, 3)
    keys = script_multicasts(
        line, LineServerError("Internal server error", status=500), LineTimeout("no answer")
    )
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    assert len(line.sent("multicast")) == 1
    assert keys == [batch_retry_key(broadcast_id, 1)] * 3
    assert outcomes(app, broadcast_id) == {"sent": 3}


def test_a_batch_still_failing_waits_for_the_next_run_with_its_key(app, line):
    add_shoppers(app, 2)
    script_multicasts(line, *[LineServerError("Internal server error", status=503)] * 3)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
        assert outcomes(app, broadcast_id) == {"queued": 2}
        row = broadcast_row(app, broadcast_id)
        assert row.state.value == "sending" and row.next_due_at == NOON + timedelta(minutes=1)
    with freeze_time(NOON + timedelta(minutes=1)):
        run_sender(app, broadcast_id)
    keys = {r["retry_key"] for r in line.sent("multicast")}
    assert keys == {batch_retry_key(broadcast_id, 1)}
    assert outcomes(app, broadcast_id) == {"sent": 2}


def test_a_refused_batch_fails_with_lines_reason(app, line: InMemoryLineGateway):
    add_shoppers(app, 2)
    script_multicasts(line, LineClientError("The request body has 1 error(s)", status=400))
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app)
        run_sender(app, broadcast_id)
    states = recipient_states(app, broadcast_id)
    assert {s for s, _ in states.values()} == {"failed"}
    assert all(r.startswith("LINE 400") for _, r in states.values())
    assert broadcast_row(app, broadcast_id).state.value == "done"


class Killed(BaseException):
    """The worker dying between LINE's answer and the database write."""


def test_personalised_pushes_resume_after_a_crash_without_a_second_message(
    app, line: InMemoryLineGateway
):
    add_shoppers(app, 3)
    templates = app.extensions["bot"].templates
    settings = app.extensions["bot"].settings
    data = compose.template_data_text(templates, "restock_notice", settings)
    content = compose.from_template(
        templates, "restock_notice", "", data, personalise=True, settings=settings
    )
    assert content.personalised
    original = line.push
    pushed: list[str] = []

    def dies_after_the_second(to, messages, *, retry_key=None, aggregation_unit=None):
        result = original(to, messages, retry_key=retry_key)
        pushed.append(to)
        if len(pushed) == 2:
            raise Killed
        return result

    line.push = dies_after_the_second  # type: ignore[method-assign]
    with freeze_time(NOON) as clock:
        broadcast_id = make_broadcast(app, content=content)
        with pytest.raises(Killed):
            run_sender(app, broadcast_id, threads=1)
        line.push = original  # type: ignore[method-assign]
        assert run_sender(app, broadcast_id) == {}  # the dead sender's lease still holds
        clock.tick(LEASE)
        run_sender(app, broadcast_id)
    accepted = pushes(line)
    assert sorted(p["to"] for p in accepted) == [user_id(n) for n in (1, 2, 3)]
    assert sorted(p["messages"][0]["altText"].split("、")[0] for p in accepted) == [
        "テスト 1様",
        "テスト 2様",
        "テスト 3様",
    ]
    states = recipient_states(app, broadcast_id)
    assert {s for s, _ in states.values()} == {"sent"}
    # The two LINE had before the crash (the pool may have pushed the third too) come back
    # as already accepted: each shopper got one message.
    assert sum(1 for _, r in states.values() if r == ALREADY_ACCEPTED) >= 2
    assert len(line.accepted_keys) == 3
    assert sorted(len(texts) for texts in logged(app).values()) == [1, 1, 1]


def test_a_stored_segment_that_no_longer_reads_is_refused_not_retried(app, line):
    add_shoppers(app, 2)
    with freeze_time(NOON):
        broadcast_id = make_broadcast(app, segment="cart_value >= 1")  # stored as if older
        run_sender(app, broadcast_id)
    row = broadcast_row(app, broadcast_id)
    assert row.state.value == "refused" and "カートごとの値" in row.reason
    assert row.next_due_at is None and line.sent("multicast") == []
