"""The SMS emulator's own rules and its control API, in-process and as dev mode runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from bot.core.settings import REPO_ROOT
from bot.sms import SmsUnavailable
from bot.sms.twilio import TwilioSms
from sms_emulator.core import segments
from tests.helpers.sms import ACCOUNT_SID, AUTH_TOKEN, SENDER

PHONE = "+819012345678"


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("あ" * 70, 1),
        ("あ" * 71, 2),
        ("あ" * 134, 2),
        ("あ" * 135, 3),
    ],
)
def test_segments_count_as_the_provider_bills(body, count):
    assert segments(body) == count


def test_the_message_resource_answers_as_the_provider_does(sms_emulator):
    adapter = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, sender=SENDER, base_url=sms_emulator.base_url)
    sent = adapter.send(PHONE, "カゴに商品が残っています", reference="delivery:9")
    account = f"{sms_emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}"
    url = f"{account}/Messages/{sent.provider_message_id}.json"
    resource = requests.get(url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).json()
    assert resource["sid"] == sent.provider_message_id
    assert (resource["to"], resource["from"], resource["status"]) == (PHONE, SENDER, "queued")
    assert resource["num_segments"] == "1" and resource["direction"] == "outbound-api"
    assert requests.get(url, auth=(ACCOUNT_SID, "nope"), timeout=5).status_code == 401
    other = url.replace(ACCOUNT_SID, "AC" + "3" * 32)
    assert requests.get(other, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).status_code == 404


def test_the_control_api_lists_delivers_injects_and_resets(sms_emulator, sms_bot):
    base = f"{sms_emulator.base_url}/_emulator"
    with sms_bot.app_context():
        sent = sms_bot.extensions["bot"].sms.send(PHONE, "本文", reference="campaign:1")
    [listed] = requests.get(f"{base}/messages", params={"to": PHONE}, timeout=5).json()
    assert listed["sid"] == sent.provider_message_id
    delivered = requests.post(f"{base}/deliver", json={"sid": sent.provider_message_id}, timeout=5)
    assert delivered.json() == {"callbacks": [204, 204, 204]}
    inbound = requests.post(f"{base}/inbound", json={"from": PHONE, "body": "停止"}, timeout=5)
    assert inbound.json()["status"] == 200
    requests.post(f"{base}/faults", json={"status": 503}, timeout=5)
    with sms_bot.app_context(), pytest.raises(SmsUnavailable, match="503"):
        sms_bot.extensions["bot"].sms.send(PHONE, "本文", reference="campaign:2")
    requests.post(f"{base}/reset", timeout=5)
    assert requests.get(f"{base}/messages", timeout=5).json() == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_line_emulator_serves_and_stops_on_sigterm():
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sms_emulator",
            "--port",
            str(port),
            "--account-sid",
            ACCOUNT_SID,
            "--auth-token",
            AUTH_TOKEN,
            "--number",
            SENDER,
            "--auto-deliver",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/_emulator/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        adapter = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, sender=SENDER, base_url=base)
        sent = adapter.send(PHONE, "テスト", reference="x")
        deadline = time.monotonic() + 5
        status = ""
        while time.monotonic() < deadline and status != "delivered":
            status = requests.get(f"{base}/_emulator/messages", timeout=2).json()[0]["status"]
            time.sleep(0.05)
        assert status == "delivered", sent  # auto-delivered (no callback URL was given)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
