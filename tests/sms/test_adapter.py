"""The Twilio adapter against the SMS emulator over real HTTP on loopback."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.sms import SmsRejected, SmsUnavailable
from bot.sms.twilio import TwilioSms, with_reference
from bot.sms.webhooks import signature as bot_signature
from sms_emulator import signature as emulator_signature
from tests.helpers.sms import ACCOUNT_SID, AUTH_TOKEN, SENDER

TO = "+819012345678"
TEXT = "カートに商品が残っています。ご購入はこちら https://bot.example.com/r/abc"


def _adapter(emulator, **options) -> TwilioSms:
    options.setdefault("sender", SENDER)
    options.setdefault("read_timeout", 2.0)
    return TwilioSms(
        ACCOUNT_SID,
        options.pop("token", AUTH_TOKEN),
        base_url=emulator.base_url,
        default_status_callback="https://bot.example.com/sms/status",
        **options,
    )


def test_a_message_is_sent_and_its_reference_rides_in_the_callback_url(sms_emulator):
    sent = _adapter(sms_emulator).send(TO, TEXT, reference="delivery:42")
    assert sent.status == "queued"
    assert sent.provider_message_id.startswith("SM") and len(sent.provider_message_id) == 34
    [message] = sms_emulator.sent()
    assert (message.sid, message.to, message.from_, message.body) == (
        sent.provider_message_id,
        TO,
        SENDER,
        TEXT,
    )
    callback = urlsplit(message.status_callback)
    assert callback.path == "/sms/status"
    assert parse_qs(callback.query) == {"ref": ["delivery:42"]}


def test_a_messaging_service_sends_instead_of_a_number(sms_emulator):
    service = "MG" + "2" * 32
    sms_emulator.messaging_service_sids.add(service)
    sent = _adapter(sms_emulator, sender=None, messaging_service_sid=service).send(
        TO, TEXT, reference="delivery:1"
    )
    assert sent.status == "accepted"
    assert sms_emulator.sent()[0].messaging_service_sid == service


@pytest.mark.parametrize(
    ("to", "code"),
    [("09012345678", "21211"), ("+81312345678", "21614"), ("", "21604"), ("+81abc", "21211")],
)
def test_an_invalid_number_is_rejected_with_the_providers_code(sms_emulator, to, code):
    with pytest.raises(SmsRejected) as refused:
        _adapter(sms_emulator).send(to, TEXT, reference="delivery:1")
    assert refused.value.code == code
    assert sms_emulator.sent() == []


def test_a_sender_not_of_the_account_and_an_empty_body_are_rejected(sms_emulator):
    with pytest.raises(SmsRejected) as refused:
        _adapter(sms_emulator, sender="+815099999999").send(TO, TEXT, reference="x")
    assert refused.value.code == "21606"
    with pytest.raises(SmsRejected) as refused:
        _adapter(sms_emulator).send(TO, "  ", reference="x")
    assert refused.value.code == "21602"


def test_a_wrong_auth_token_is_401_and_permanent(sms_emulator):
    with pytest.raises(SmsRejected) as refused:
        _adapter(sms_emulator, token="wrong-token").send(TO, TEXT, reference="x")
    assert refused.value.code == "20003"
    assert "401" in str(refused.value)


def test_past_the_rate_limit_is_429_and_passing(sms_emulator):
    sms_emulator.rate_limit = 2
    adapter = _adapter(sms_emulator)
    adapter.send(TO, TEXT, reference="a")
    adapter.send(TO, TEXT, reference="b")
    with pytest.raises(SmsUnavailable) as limited:
        adapter.send(TO, TEXT, reference="c")
    assert limited.value.code == "20429"
    assert limited.value.maybe_sent is False
    assert len(sms_emulator.sent()) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_a_provider_error_is_passing(sms_emulator, status):
    sms_emulator.fail_next(status)
    adapter = _adapter(sms_emulator)
    with pytest.raises(SmsUnavailable):
        adapter.send(TO, TEXT, reference="a")
    assert adapter.send(TO, TEXT, reference="a").status == "queued"  # the next one goes


def test_a_read_timeout_is_passing_and_may_have_sent(sms_emulator):
    sms_emulator.stall_next(1.5)
    with pytest.raises(SmsUnavailable) as slow:
        _adapter(sms_emulator, read_timeout=0.3).send(TO, TEXT, reference="a")
    assert slow.value.maybe_sent is True


def test_a_refused_connection_is_passing_and_sent_nothing():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    adapter = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, sender=SENDER, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SmsUnavailable) as down:
        adapter.send(TO, TEXT, reference="a")
    assert down.value.maybe_sent is False


def test_with_reference_replaces_a_reference_already_in_the_url():
    url = with_reference("https://bot.example.com/sms/status?x=1&ref=old", "delivery:7")
    assert parse_qs(urlsplit(url).query) == {"x": ["1"], "ref": ["delivery:7"]}


def test_signatures_match_the_providers_published_example():
    # The example of the provider's request-validation guide.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert bot_signature("12345", url, params.items()) == expected
    assert emulator_signature("12345", url, params) == expected
    assert bot_signature("12346", url, params.items()) != expected
