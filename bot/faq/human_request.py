"""Telling a request to talk with a person (担当者と話したい, オペレーター) from a question."""

from __future__ import annotations

import re

from bot.faq.normalize import normalize_text, strip_polite

_PERSON = (
    r"(?:担当(?:者|の(?:方|かた|人))?|係(?:の)?(?:人|方|かた)|オペレータ(?:ー)?|スタッフ|店員|店長|人間|有人"
    r"|中の人|責任者|(?:カスタマー)?サポート(?:の(?:人|方|かた)|担当)|お?店の(?:人|方|かた)"
    r"|誰か|だれか|生身|(?<![\u4e00-\u9fff])人(?![気数分件])|ひと)"
)
# What is asked of the person: talk, connect, take over, answer, check, call back.
_REQUEST = (
    r"(?:話|はな[しさせす]|繋|つな[いぎげ]|代わ|かわって|替わ|対応|相談|呼|よん|よべ|やり[とと取]"
    r"|やりとり|聞[きけ]|きき|連絡|出て|でて|チャット|切り替え|切替|変えて"
    r"|答え|こたえ|回答|返信|返事|確認|見て|みて|助け|たすけ|任せ|まかせ|エスカレ)"
)
# Words that are a request by themselves: 担当者をお願いします, 人間対応希望.
_REQUEST_ITSELF = r"(?:お願い|おねがい|ください|下さい|希望|頼む|頼みます|たのむ|please)"
# A request or a wish after the verb: a statement about staff (スタッフの対応が丁寧でした, 人に相談
# してからまた来ます) names a person and a verb but asks for nothing.
_ASKING = (
    r"(?:たい|ください|下さい|くださ|ほしい|欲しい|もら[えいう]|いただ[けきく]|頂[けきく]|お願い|おねがい"
    r"|できます|できない|ちょうだい|くれ(?:る|ない|ます|ません)?か?$|て$|で$|か$|かな$|ない$|ろ$|よ$"
    r"|希望|[せれ]る$)"
)
_HUMAN_PATTERNS = (
    re.compile(
        _PERSON + r".{0,12}?(?:" + _REQUEST_ITSELF + "|" + _REQUEST + r".{0,24}?" + _ASKING + ")"
    ),
    re.compile(r"(?<![a-z])(?:human|operator|realperson)(?:please|plz|pls)?(?![a-z])"),
    # 人を出して, 店長を出してください: the person is what is to be brought out.
    re.compile(_PERSON + r"(?:さん|様)?を(?:出|だ)し"),
    re.compile(r"有人|(?:人工知能|ボット|bot|ai|機械)(?:の回答)?(?:じゃな|ではな)"),
    # Done with the bot (ボットやめて, 自動応答はもういいので): the rest is for a person.
    re.compile(
        r"(?:ボット|bot|ai|機械|ロボット|自動(?:応答|返信))(?:は|を|と(?:の会話)?は)?(?:もう)?(?:やめ|いいので|疲れ)"
    ),
    re.compile(
        r"電話(?:で|に|を)?.{0,4}?(?:話|はな[しさ]|相談|かけ|し(?:たい|て(?:ほし|くだ|もら)))"
    ),
    re.compile(r"折り返し.{0,6}?(?:電話|連絡|ください|ほしい|お願い|もら|いただ)"),
    re.compile(r"直接.{0,8}?(?:話|はな[しさ]|相談|やり[とと取]|やりとり|確認)"),
    # Asking whether a person is there (スタッフの方はいますか, 人間いる) asks for one.
    re.compile(
        _PERSON
        + r"(?:の方|の人|さん|様)?(?:は|って|が|も)?"
        + r"(?:いますか|いませんか|いるか|いるの|いないの|いないか|いる)$"
    ),
)
_LONG = 400
_HUMAN_ALONE = re.compile(_PERSON + r"(?:さん|様|さま)?(?:を|に|と|で)?(?:お願い)?")
_NOT_WANTED = re.compile(
    r"(?:不要|いらない|いりません|結構|必要(?:は)?(?:ない|ありません|ございません)|要らない|なしで"
    r"|なくて(?:いい|大丈夫)|苦手)"
)


def is_human_request(text: str) -> bool:
    """True when the shopper asks to talk with a person rather than the bot."""
    norm = normalize_text(text).replace(" ", "")
    if not norm or _NOT_WANTED.search(norm):
        return False
    if _HUMAN_ALONE.fullmatch(strip_polite(norm)):
        return True
    if len(norm) > _LONG:
        # A request for a person opens or closes a long message; the middle only costs time.
        norm = norm[: _LONG // 2] + " " + norm[-_LONG // 2 :]
    return any(p.search(norm) for p in _HUMAN_PATTERNS)
