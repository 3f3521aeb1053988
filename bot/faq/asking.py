"""Whether a message asks something (a question, a request, a wish) or only tells something.

Chat that names a shop word in passing (パソコンが壊れた, 荷造りが終わらない) tells; a shopper's
question asks (壊れていたら交換できますか, 返品したい, 教えて, 送料は?). It is one signal of the
calibrated confidence, not a rule: complaints such as 商品が届きません ask without asking.
"""

from __future__ import annotations

import re

from bot.faq.normalize import normalize_text

# Interrogatives anywhere in the message: いつ, いくら, どこ, 何, どう, どの, どれ, なぜ, 誰.
_INTERROGATIVE_RE = re.compile(r"いつ|いくら|幾ら|どこ|何|なに|なん|どう|どの|どれ|どちら|なぜ|誰")
# Endings of a question, a request or a wish, after the punctuation is gone.
_ASKING_END_RE = re.compile(
    r"(?:か|かな|かね|の|のか|んですが|のですが|ですが|けど|たい|たいです|ほしい|欲しい|"
    r"ほしいです|ください|下さい|くれ|くれる|て|で|てほしい|たら|れば|は|って|いい|可能|ok|okですか|"
    r"お願い|お願いします|おねがいします|わからない|分からない|わかりません|分かりません)$"
)


def asks(text: str) -> bool:
    """True when the message is a question, a request or a wish; False when it only tells."""
    if "?" in text or "？" in text:
        return True
    norm = normalize_text(text).replace(" ", "")
    return bool(_INTERROGATIVE_RE.search(norm) or _ASKING_END_RE.search(norm))
