"""Values PostgreSQL quotes in its error details (`Key (…)=(…)`) never reach the logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from bot.core.db import Database
from bot.core.logs import JsonFormatter, redact_database_values
from bot.models import FollowState, Shopper

SECRET_ID = "U会員番号ひみつ0001"


def test_key_values_and_failing_rows_are_replaced() -> None:
    text = (
        'duplicate key value violates unique constraint "shoppers_line_user_id_key"\n'
        "DETAIL:  Key (line_user_id)=(U秘密) already exists.\n"
        'DETAIL:  Key (member_id, sku)=(M1, 山田太郎) is not present in table "carts".\n'
        "DETAIL:  Failing row contains (7, 山田太郎, null).\n"
    )
    redacted = redact_database_values(text)
    assert "U秘密" not in redacted and "山田太郎" not in redacted and "M1" not in redacted
    assert "Key (line_user_id)=(…) already exists." in redacted
    assert "Key (member_id, sku)=(…) is not present" in redacted
    assert "Failing row contains (…)." in redacted
    assert redact_database_values("nothing to hide") == "nothing to hide"


def test_a_unique_violation_is_logged_without_the_value(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite's errors name no values; PostgreSQL's DETAIL does (CI's second suite)")
    now = datetime(2026, 11, 27, tzinfo=UTC)
    session = db.session()
    session.add(
        Shopper(
            line_user_id=SECRET_ID,
            follow_state=FollowState.FOLLOWING,
            created_at=now,
            updated_at=now,
        )
    )
    session.commit()
    session.add(
        Shopper(
            line_user_id=SECRET_ID,
            follow_state=FollowState.FOLLOWING,
            created_at=now,
            updated_at=now,
        )
    )
    log = logging.getLogger("tests.redaction")
    with caplog.at_level(logging.ERROR):
        try:
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            log.exception("insert failed: %s", exc.orig)
    (record,) = caplog.records
    assert SECRET_ID in str(record.exc_info[1])  # the database did name it
    logged = JsonFormatter().format(record)
    assert "Key (line_user_id)=(…)" in logged
    assert SECRET_ID not in logged
