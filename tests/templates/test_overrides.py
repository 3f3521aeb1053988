"""Shop overrides and variants, and the errors a broken template raises at load time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flex_templates import TemplateError, TemplateRegistry, load_templates
from flex_templates.cli import templates_cli


def _write(folder: Path, name: str, layout: Any) -> Path:
    path = folder / name
    text = layout if isinstance(layout, str) else json.dumps(layout, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def _escalation_bubble(title: str) -> dict[str, Any]:
    return {
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": f"{title}{{{{salutation}}}}", "wrap": True}],
        },
    }


def test_override_replaces_default(tmp_path: Path) -> None:
    _write(tmp_path, "escalation_handed.json", _escalation_bubble("担当:"))
    registry = load_templates(tmp_path)
    message = registry.render("escalation_handed", {"shopper_name": "佐藤"})
    assert message["contents"]["body"]["contents"][0]["text"] == "担当:佐藤様"
    assert registry.template("escalation_handed").path == tmp_path / "escalation_handed.json"


def test_variant_is_added_next_to_default(tmp_path: Path, registry: TemplateRegistry) -> None:
    _write(tmp_path, "escalation_handed@short.json", _escalation_bubble("B案:"))
    shop = load_templates(tmp_path)
    assert shop.variants("escalation_handed") == ["short"]
    variant = shop.render("escalation_handed", {}, variant="short")
    default = shop.render("escalation_handed", {})
    assert variant["contents"]["body"]["contents"][0]["text"] == "B案:お客様"
    assert default == registry.render("escalation_handed", {})


def test_unknown_variant_raises(registry: TemplateRegistry) -> None:
    with pytest.raises(TemplateError, match="cart_reminder@nope"):
        registry.render("cart_reminder", {"cart_url": "https://x.example/"}, variant="nope")


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("cart_reminder.json", "{not json", "invalid JSON"),
        ("cart_reminder.json", {"type": "text", "text": "x"}, "bubble or carousel"),
        ("cart_reminder.json", _escalation_bubble("{{ broken"), "malformed placeholder"),
        ("cart_reminder.json", _escalation_bubble("{{shoper_name}}"), "unknown placeholder"),
        ("cart_remindr.json", _escalation_bubble(""), "unknown template name"),
        ("Cart Reminder.json", _escalation_bubble(""), "file name"),
        (
            "escalation_handed.json",
            {"type": "bubble", "body": {"type": "box", "layout": "diagonal", "contents": []}},
            "layout",
        ),
        (
            "escalation_handed@b.json",
            {
                "type": "bubble",
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [
                        {
                            "type": "button",
                            "action": {
                                "type": "uri",
                                "label": "x" * 41,
                                "uri": "https://a.example/",
                            },
                        }
                    ],
                },
            },
            "label",
        ),
    ],
    ids=["json", "type", "brace", "typo", "name", "filename", "flex", "label-length"],
)
def test_broken_template_names_file_and_reason(
    tmp_path: Path, file_name: str, content: Any, reason: str
) -> None:
    path = _write(tmp_path, file_name, content)
    with pytest.raises(TemplateError) as excinfo:
        load_templates(tmp_path)
    assert str(path) in str(excinfo.value) or path.name in str(excinfo.value)
    assert reason in str(excinfo.value)


def test_section_spread_over_bubble_is_rejected(tmp_path: Path) -> None:
    # The cart's items must sit in one repeatable element; spreading them over header and
    # body leaves nothing to repeat.
    layout = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": "{{item.name}}"}],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": "{{item.price}}"}],
        },
    }
    _write(tmp_path, "cart_reminder.json", layout)
    with pytest.raises(TemplateError, match="cart_reminder.json.*section 'item'"):
        load_templates(tmp_path)


def test_missing_override_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        load_templates(tmp_path / "nowhere")


def test_cli_check_reports_broken_override(tmp_path: Path) -> None:
    _write(tmp_path, "faq_answer.json", _escalation_bubble("{{answr}}"))
    result = CliRunner().invoke(templates_cli, ["check", "--templates-path", str(tmp_path)])
    assert result.exit_code == 1
    assert "faq_answer.json" in result.output
    assert "unknown placeholder {{answr}}" in result.output


def test_cli_check_passes_for_defaults() -> None:
    result = CliRunner().invoke(templates_cli, ["check"])
    assert result.exit_code == 0, result.output
    assert "ok: cart_reminder.json" in result.output


def test_cli_preview_prints_contents_and_message(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"faq_id": 3, "answer": "返品は到着後7日以内です。"}), "utf-8")
    result = CliRunner().invoke(templates_cli, ["preview", "faq_answer", "--data", str(data)])
    assert result.exit_code == 0, result.output
    head, _, message = result.output.partition("# message\n")
    contents = json.loads(head.split("\n", 1)[1])
    assert contents["type"] == "bubble"
    assert json.loads(message)["contents"] == contents
    assert "返品は到着後7日以内です。" in message


def test_cli_preview_uses_variant_and_reports_unknown(tmp_path: Path) -> None:
    _write(tmp_path, "escalation_returned@plain.json", _escalation_bubble("戻りました:"))
    args = ["preview", "escalation_returned", "--templates-path", str(tmp_path)]
    result = CliRunner().invoke(templates_cli, [*args, "--variant", "plain"])
    assert result.exit_code == 0, result.output
    assert "戻りました:山田 花子様" in result.output
    result = CliRunner().invoke(templates_cli, [*args, "--variant", "fancy"])
    assert result.exit_code != 0
    assert "escalation_returned@fancy" in result.output
