"""「会員連携」 and 「連携解除」 (typed or postback), and the notices sent when a link changes."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from rq import Retry

from bot.core.jobs import job_context
from bot.core.settings import Settings
from bot.line.gateway import Message, retry_key_for
from bot.line.messaging import Messenger
from bot.line.routing import HandlerContext, text
from bot.linking import service as linking
from bot.models import LinkAction, LinkSource, Shopper
from bot.shoppers.service import find_shopper

log = logging.getLogger(__name__)

NOTICE_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
HOW_TO_UNLINK = "連携を解除したいときは「連携解除」と送信してください。"
HOW_TO_LINK = "連携するときは「会員連携」と送信してください。"
LINK_BENEFIT = "連携いただくと、ご注文やお届けの状況をLINEでお知らせできます。"


def linked_text(member_id: str, moved_from: str | None = None) -> str:
    """Confirmation of a new link (or of a link moved from another member)."""
    masked = linking.mask_member_id(member_id)
    if moved_from is not None:
        head = f"連携先の会員アカウントを切り替えました。\n現在の連携先: 会員番号 {masked}"
    else:
        head = f"会員連携が完了しました。\n連携中のアカウント: 会員番号 {masked}"
    return f"{head}\n{HOW_TO_UNLINK}"


def unlinked_text(member_id: str) -> str:
    """Confirmation that the link was removed."""
    masked = linking.mask_member_id(member_id)
    return f"会員連携を解除しました(会員番号 {masked})。\n再び{HOW_TO_LINK}"


def moved_away_text(member_id: str) -> str:
    """Told to the previous LINE user when their member was linked to another LINE account."""
    masked = linking.mask_member_id(member_id)
    return (
        f"会員番号 {masked} の連携は、別のLINEアカウントに切り替えられました。\n"
        "お心当たりがない場合は、お手数ですがショップまでお問い合わせください。"
    )


LINK_FAILED = (
    "申し訳ありません、会員連携を完了できませんでした。\n"
    "お手数ですが、もう一度「会員連携」と送信してお試しください。"
)
NONCE_REFUSED = (
    "申し訳ありません、連携の有効期限が切れたか、すでに使われたリンクでした。\n"
    "お手数ですが、もう一度「会員連携」と送信してお試しください。"
)
NOT_LINKED = f"現在、連携中の会員アカウントはありません。\n{HOW_TO_LINK}"


def login_url(settings: Settings, link_token: str) -> str:
    """The shop's login page with the link token appended (`?linkToken=...`)."""
    base = settings.shop_link_url
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'linkToken': link_token})}"


def link_prompt(ctx: HandlerContext, shopper: Shopper, url: str) -> Message:
    """The account_link_prompt Flex, or a plain button template if it can't be rendered."""
    data: dict[str, Any] = {
        "shop_name": ctx.settings.shop_name,
        "login_url": url,
        "benefit": LINK_BENEFIT,
    }
    if shopper.display_name:
        data["shopper_name"] = shopper.display_name
    try:
        return ctx.templates.render("account_link_prompt", data)
    except Exception:
        log.exception("account_link_prompt could not be rendered; sending a button template")
    return {
        "type": "template",
        "altText": "会員連携のご案内",
        "template": {
            "type": "buttons",
            "title": "会員連携",
            "text": "ショップの会員アカウントでログインすると、連携が完了します。",
            "actions": [{"type": "uri", "label": "ログインして連携する", "uri": url}],
        },
    }


def handle_postback_link(event: Any, ctx: HandlerContext) -> None:
    """Issue a link token for this LINE user and send the shop's login link."""
    shopper = ctx.require_shopper()
    now = ctx.clock.now()
    token = ctx.line.issue_link_token(shopper.line_user_id)
    linking.record_link_token(ctx.session, shopper.line_user_id, token, now)
    messages: list[Message] = []
    if shopper.member_id:
        messages.append(
            text(
                f"現在、会員番号 {linking.mask_member_id(shopper.member_id)} と連携中です。\n"
                "別の会員アカウントに切り替える場合は、下のボタンからログインしてください。"
            )
        )
    messages.append(link_prompt(ctx, shopper, login_url(ctx.settings, token)))
    ctx.reply(messages)


def handle_postback_unlink(event: Any, ctx: HandlerContext) -> None:
    """Remove this LINE user's member link and confirm."""
    shopper = ctx.require_shopper()
    entry = linking.unlink_shopper(ctx.session, shopper, ctx.clock.now(), LinkSource.SHOPPER)
    ctx.reply([text(unlinked_text(entry.member_id) if entry else NOT_LINKED)])


def send_link_notice(history_id: int) -> None:
    """Tell the LINE user of a link history entry what changed (job; safe to retry)."""
    with job_context("send_link_notice") as services:
        session = services.db.session()
        entry = linking.history_entry(session, history_id)
        if entry is None:
            return  # erased meanwhile
        shopper = find_shopper(session, entry.line_user_id)
        if shopper is None or not shopper.is_following:
            return
        if entry.action is LinkAction.LINKED:
            body = linked_text(entry.member_id, entry.previous_member_id)
        elif entry.previous_line_user_id is not None:
            body = moved_away_text(entry.member_id)
        else:
            body = unlinked_text(entry.member_id)
        Messenger(session, services.line, services.clock).push(
            shopper, [text(body)], retry_key=retry_key_for("link-notice", history_id)
        )


def enqueue_link_notice(queues: Any, history_id: int | None) -> None:
    """Queue `send_link_notice` for a history entry (no-op for None)."""
    if history_id is not None:
        queues.default.enqueue(send_link_notice, history_id, retry=NOTICE_RETRY)
