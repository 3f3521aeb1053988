"""Telling a request to talk with a person (担当者と話したい, オペレーター) from a question."""

from __future__ import annotations

import re

from bot.faq.normalize import normalize_text, strip_polite

_PERSON = (
    r"(?:担当(?:者|の(?:方|かた|人))?|係(?:の)?(?:人|方|かた)|オペレータ|スタッフ|店員|人間|有人"
    r"|中の人|責任者|サポート(?:の人|担当)|誰か|だれか|生身|(?<![\u4e00-\u9fff])人(?![気数分件])|ひと)"
)
_REQUEST = (
    r"(?:話|はな[しさせす]|繋|つな[いぎげ]|代わ|かわって|替わ|対応|相談|呼|よん|よべ|やり[とと取]"
    r"|やりとり|聞[きけ]|きき|連絡|お願い|おねがい|出て|でて|チャット|切り替え|切替|変えて|ください"
    r"|答え|こたえ|回答)"
)
_HUMAN_PATTERNS = (
    re.compile(_PERSON + r".{0,12}?" + _REQUEST),
    re.compile(r"有人|オペレータ|(?:人工知能|ボット|bot|ai|機械)(?:の回答)?じゃな"),
    re.compile(
        r"電話(?:で|に|を)?.{0,4}?(?:話|はな[しさ]|相談|かけ|し(?:たい|て(?:ほし|くだ|もら)))"
    ),
    re.compile(r"直接.{0,8}?(?:話|はな[しさ]|相談|やり[とと取]|やりとり)"),
    # Asking whether a person is there (スタッフの方はいますか) asks for one.
    re.compile(
        _PERSON
        + r"(?:の方|の人|さん|様)?(?:は|って|が|も)?"
        + r"(?:いますか|いませんか|いるか|いるの|いないの|いないか)$"
    ),
)
_HUMAN_ALONE = re.compile(_PERSON + r"(?:さん|様|さま)?(?:を|に|と|で)?(?:お願い)?")
_NOT_WANTED = re.compile(
    r"(?:不要|いらない|いりません|結構|必要ない|要らない|なしで|なくて(?:いい|大丈夫))"
)


def is_human_request(text: str) -> bool:
    """True when the shopper asks to talk with a person rather than the bot."""
    norm = normalize_text(text).replace(" ", "")
    if not norm or _NOT_WANTED.search(norm):
        return False
    if _HUMAN_ALONE.fullmatch(strip_polite(norm)):
        return True
    return any(p.search(norm) for p in _HUMAN_PATTERNS)
