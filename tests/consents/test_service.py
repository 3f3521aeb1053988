"""The consent service: history, current state by when it happened, LINE's flag, contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from bot.consents import (
    ContactError,
    contact_of,
    contacts_of,
    history,
    mark_undeliverable,
    marketing_consent,
    marketing_consents,
    normalise_email,
    normalise_phone,
    record_consent,
    set_contact,
)
from bot.models import ConsentRecord, FollowState, Shopper

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def session(db):
    return db.session()


def _record(session, granted, at, *, channel="email", key=None, member="M100", source="mypage"):
    return record_consent(
        session,
        member_id=member,
        channel=channel,
        purpose="marketing",
        granted=granted,
        occurred_at=at,
        source=source,
        now=NOW,
        evidence={"form_version": "2026-10"},
        request_key=key,
    )


def _linked_shopper(session, member="M100", opt_in=True):
    shopper = Shopper(
        line_user_id="U" + "a" * 32,
        follow_state=FollowState.FOLLOWING,
        member_id=member,
        marketing_opt_in=opt_in,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(shopper)
    session.flush()
    return shopper


def test_no_record_means_no_consent_for_email_and_sms(session):
    assert marketing_consent(session, "M100", "email") is False
    assert marketing_consent(session, "M100", "sms") is False


def test_the_newest_by_occurred_at_holds_the_state(session):
    _record(session, True, NOW - 3 * HOUR)
    assert marketing_consent(session, "M100", "email") is True
    _record(session, False, NOW - HOUR)
    assert marketing_consent(session, "M100", "email") is False
    # A grant that happened before the withdrawal arrives late: kept, but not current.
    late = _record(session, True, NOW - 2 * HOUR)
    assert marketing_consent(session, "M100", "email") is False
    assert [r.granted for r in history(session, "M100")] == [True, True, False]
    assert history(session, "M100")[1].id == late.id


def test_channels_are_separate(session):
    _record(session, True, NOW - HOUR, channel="sms")
    assert marketing_consent(session, "M100", "sms") is True
    assert marketing_consent(session, "M100", "email") is False


def test_a_request_key_records_once(session):
    first = _record(session, True, NOW - HOUR, key="k-1")
    again = _record(session, False, NOW, key="k-1")
    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 1
    assert marketing_consent(session, "M100", "email") is True


def test_unknown_channel_or_naive_time_is_refused(session):
    with pytest.raises(ValueError):
        _record(session, True, NOW, channel="fax")
    with pytest.raises(ValueError):
        _record(session, True, NOW.replace(tzinfo=None))


def test_line_falls_back_to_the_shoppers_flag_and_records_keep_it_in_step(session):
    shopper = _linked_shopper(session, opt_in=True)
    assert marketing_consent(session, "M100", "line") is True
    _record(session, False, NOW - HOUR, channel="line", source="shop_api")
    assert marketing_consent(session, "M100", "line") is False
    assert shopper.marketing_opt_in is False
    _record(session, True, NOW - 2 * HOUR, channel="line", source="shop_api")  # older
    assert shopper.marketing_opt_in is False


def test_line_without_shopper_or_record_is_no_consent(session):
    assert marketing_consent(session, "M404", "line") is False


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+819012345678", "+819012345678"),
        ("090-1234-5678", "+819012345678"),
        ("０８０ １２３４ ５６７８", "+818012345678"),
        ("07012345678", "+817012345678"),
        ("+14155550100", "+14155550100"),
    ],
)
def test_phone_numbers_become_e164(given, stored):
    assert normalise_phone(given) == stored


@pytest.mark.parametrize(
    "given", ["0312345678", "9012345678", "+0123456789", "090123456789", "電話", "", "+81"]
)
def test_other_phone_numbers_are_refused(given):
    with pytest.raises(ContactError):
        normalise_phone(given)


def test_email_domain_is_lowered_and_bad_syntax_refused():
    assert normalise_email(" Hanako.Yamada@Example.JP ") == "Hanako.Yamada@example.jp"
    assert normalise_email("taro..yamada.@docomo.ne.jp") == "taro..yamada.@docomo.ne.jp"
    for bad in ["hanako", "hanako@", "@example.jp", "a b@example.jp", "hanako@example", "x@-a.jp"]:
        with pytest.raises(ContactError):
            normalise_email(bad)
    with pytest.raises(ContactError):
        normalise_email("a" * 65 + "@example.jp")


def test_contacts_are_set_kept_and_marked(session):
    assert contact_of(session, "M100") is None
    set_contact(session, "M100", email="hanako@example.jp", phone="09012345678", now=NOW)
    contact = contact_of(session, "M100")
    assert contact is not None
    assert (contact.email, contact.phone, contact.email_ok, contact.phone_ok) == (
        "hanako@example.jp",
        "+819012345678",
        True,
        True,
    )
    assert mark_undeliverable(session, "M100", "sms", NOW, "undelivered:30003") is True
    assert contact_of(session, "M100").phone_ok is False
    set_contact(session, "M100", email=None, now=NOW)  # phone left as it is
    contact = contact_of(session, "M100")
    assert (contact.email, contact.phone, contact.phone_ok) == (None, "+819012345678", False)
    set_contact(session, "M100", phone="08011112222", now=NOW)  # a new number is deliverable
    assert contact_of(session, "M100").phone_ok is True
    assert mark_undeliverable(session, "M100", "email", NOW, "bounce") is False


def test_two_concurrent_calls_with_one_key_record_once(db):
    """On PostgreSQL the second insert waits for the first and then yields to its row."""
    import threading

    if db.dialect != "postgresql":
        pytest.skip("the race needs concurrent writers: set TEST_DATABASE_URL to PostgreSQL")
    first = db.session_factory()
    _record(first, True, NOW - HOUR, key="race-1")  # inserted, not committed
    results = []

    def second() -> None:
        session = db.session_factory()
        try:
            results.append(_record(session, False, NOW, key="race-1").id)
            session.commit()
        finally:
            session.close()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive()  # waiting on the unique key
    first.commit()
    thread.join(timeout=10)
    assert results and results[0] == _by_key_id(db, "race-1")
    assert db.session().scalar(select(func.count()).select_from(ConsentRecord)) == 1
    first.close()


def _by_key_id(db, key):
    return db.session().scalar(select(ConsentRecord.id).where(ConsentRecord.request_key == key))


def test_many_members_are_answered_in_one_query_per_channel(db, session):
    # M1: granted then withdrawn; M2: withdrawn then granted, recorded out of order; M3: two
    # records at the same moment (the one recorded last holds); M4: nothing; M5: LINE flag.
    _record(session, True, NOW - 3 * HOUR, member="M1")
    _record(session, False, NOW - HOUR, member="M1")
    _record(session, True, NOW - HOUR, member="M2")
    _record(session, False, NOW - 2 * HOUR, member="M2")
    _record(session, False, NOW - HOUR, member="M3")
    _record(session, True, NOW - HOUR, member="M3")
    _linked_shopper(session, member="M5", opt_in=True)
    for n in range(1, 6):
        set_contact(session, f"M{n}", email=f"hanako{n}@example.jp", now=NOW)
    session.commit()
    members = ["M1", "M2", "M3", "M4", "M5"]
    one_by_one = {m: marketing_consent(session, m, "email") for m in members}
    assert one_by_one == {"M1": False, "M2": True, "M3": True, "M4": False, "M5": False}

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert marketing_consents(session, members, "email") == one_by_one
        # LINE: the records first, then the flags of members without a record.
        assert marketing_consents(session, members, "line") == {
            "M1": False,
            "M2": False,
            "M3": False,
            "M4": False,
            "M5": True,
        }
        contacts = contacts_of(session, [*members, "M9"])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 4
    assert sorted(contacts) == members  # M9 has no contact: missing
    assert contacts["M3"] == contact_of(session, "M3")
    assert marketing_consents(session, [], "email") == {} and contacts_of(session, []) == {}
