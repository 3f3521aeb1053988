"""Made-up Japanese shopper profiles for emulated LINE users."""

from __future__ import annotations

import secrets

__all__ = ["random_display_name", "random_status_message"]

_FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
_GIVEN = ("花子", "一郎", "美咲", "蓮", "陽菜", "大翔", "結衣", "悠真", "さくら", "健太")
_STATUS = ("今日も一日がんばろう", "週末はカフェ巡り☕", "セール情報待ってます", "猫が好き🐈", "")


def random_display_name() -> str:
    """A plausible Japanese display name such as ``佐藤 花子``."""
    return f"{secrets.choice(_FAMILY)} {secrets.choice(_GIVEN)}"


def random_status_message() -> str | None:
    """A short status message, or None (LINE omits an empty one)."""
    return secrets.choice(_STATUS) or None
