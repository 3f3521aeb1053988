"""The test SMS account: its Account SID, auth token and sender number."""

from __future__ import annotations

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-sms-auth-token"
SENDER = "+815011112222"
