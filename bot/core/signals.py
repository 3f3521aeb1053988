"""Domain signals, so features react to each other without importing each other.

Receivers are called synchronously inside the sender's transaction with keyword arguments
`session`, `shopper` and `now` (plus the extras named below); they must not commit.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A LINE user was linked to a shop member (extra: member_id, previous_member_id).
member_linked = _signals.signal("member-linked")
#: A member link was removed (extra: member_id).
member_unlinked = _signals.signal("member-unlinked")
#: The shopper blocked the account.
shopper_unfollowed = _signals.signal("shopper-unfollowed")
#: The shopper followed again (or for the first time).
shopper_followed = _signals.signal("shopper-followed")
#: Marketing consent changed (extra: opt_in: bool).
marketing_consent_changed = _signals.signal("marketing-consent-changed")
#: The shopper said 「配信停止」 or 「配信再開」, changed or not (extra: opt_in, source, at: when
#: they said it, key: the webhook event id).
marketing_consent_stated = _signals.signal("marketing-consent-stated")
#: A chat was handed to staff (extra: ticket).
chat_escalated = _signals.signal("chat-escalated")
#: A chat went back to the bot (extra: ticket).
chat_returned = _signals.signal("chat-returned")
