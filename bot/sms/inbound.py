"""Replies by SMS: 「停止」 withdraws SMS marketing consent, 「再開」 grants it again.

The words are compared after NFKC (full-width letters and half-width kana become the usual
forms), without spaces or punctuation, in upper case: 「ｓｔｏｐ」, 「 停止 。」 and 「ﾃｲｼ」
all count.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.consents import record_consent
from bot.models import MemberContact

WITHDRAW = frozenset({"停止", "ていし", "テイシ", "STOP", "配信停止", "STOPALL", "UNSUBSCRIBE"})
GRANT = frozenset({"再開", "さいかい", "サイカイ", "START", "配信再開"})
_NOISE = re.compile(r"[\s\u3000。、.,!！?？・「」『』\"'-]+")


def keyword(body: str) -> bool | None:
    """True for a 「再開」, False for a 「停止」, None for anything else."""
    word = _NOISE.sub("", unicodedata.normalize("NFKC", body)).upper()
    if word in WITHDRAW:
        return False
    if word in GRANT:
        return True
    return None


def stopped_reply(shop_name: str) -> str:
    return f"{shop_name}: SMSでのお知らせを停止しました。再開するには「再開」と返信してください。"


def resumed_reply(shop_name: str) -> str:
    return f"{shop_name}: SMSでのお知らせを再開しました。停止するには「停止」と返信してください。"


def apply_reply(
    session: Session, *, message_sid: str, from_: str, body: str, now: datetime
) -> tuple[bool | None, list[str]]:
    """Record the consent a reply gives for every member with this phone number.

    Returns the keyword's meaning (None: not a keyword) and the members it applied to (none
    for an unknown number).
    """
    granted = keyword(body)
    if granted is None:
        return None, []
    members = list(
        session.scalars(select(MemberContact.member_id).where(MemberContact.phone == from_))
    )
    for member_id in members:
        record_consent(
            session,
            member_id=member_id,
            channel="sms",
            purpose="marketing",
            granted=granted,
            occurred_at=now,
            source="sms_reply",
            now=now,
            evidence={"message_sid": message_sid, "reply": "再開" if granted else "停止"},
            request_key=f"sms_reply:{message_sid}:{member_id}"[:255],
        )
    return granted, members
