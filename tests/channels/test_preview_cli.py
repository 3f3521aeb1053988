"""`flask deliveries preview`: the e-mail and SMS versions of a template as a shopper gets them."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask


def _run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["deliveries", "preview", *args])


def test_an_email_preview_prints_subject_and_text_and_writes_the_html(app: Flask, tmp_path: Path):
    html = tmp_path / "mail.html"
    result = _run(app, "restock_notice", "--channel", "email", "--html", str(html))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Subject: 「有田焼 豆皿5枚セット(花づくし)」が再入荷しました")
    assert "商品を見る: https://shop.example.jp/items/mamezara" in result.output
    assert "配信停止: " in result.output  # marketing: the unsubscribe line
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "商品を見る" in page


def test_a_transactional_sms_preview_has_no_opt_out_and_counts_segments(app: Flask):
    result = _run(app, "payment_reminder", "--channel", "sms", "--transactional")
    assert result.exit_code == 0, result.output
    text, counted = result.output.rstrip("\n").rsplit("\n", 1)
    assert "のお支払い期限は2025年7月4日(金) 23:59です" in text and "停止" not in text
    assert counted.endswith("2 SMS segment(s)")


def test_own_data_and_clear_errors(app: Flask, tmp_path: Path):
    data = tmp_path / "data.json"
    data.write_text(
        json.dumps({"shop_name": "やまと", "cart_url": "https://shop.example.jp/cart"}),
        encoding="utf-8",
    )
    result = _run(app, "cart_reminder", "--channel", "sms", "--data", str(data))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("【やまと】カートに商品が残っています。")
    assert "配信停止は「停止」と返信" in result.output
    missing = _run(app, "purchase_thanks", "--channel", "email")
    assert missing.exit_code == 1 and "no e-mail template" in missing.output
    unknown = _run(app, "no_such_template", "--channel", "sms")
    assert unknown.exit_code == 2 and "no sample data" in unknown.output
