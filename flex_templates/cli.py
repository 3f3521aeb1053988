"""`flask templates preview|check`: render templates for the Flex Message Simulator, check them.

`preview NAME --html out.html` writes one self-contained page with every variant of NAME
rendered by `flex_templates.html` from sample data, for review without LINE.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup, NoAppException, ScriptInfo

from flex_templates.builders import TemplateDataError
from flex_templates.html import base_stylesheet, render_messages, render_quick_replies
from flex_templates.registry import (
    DEFAULT_PLACEHOLDER_IMAGE_URL,
    DEFAULT_TIMEZONE,
    TemplateError,
    TemplateRegistry,
    load_templates,
)

templates_cli = AppGroup("templates", help="Preview and check Flex message templates.")

_path_option = click.option(
    "--templates-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of shop overrides (default: the app's TEMPLATES_PATH setting).",
)


def _settings_value(name: str, default: Any) -> Any:
    """A setting from the app if one can be found, so the CLI also works without it."""
    settings = None
    if has_app_context():
        settings = current_app.config.get("SETTINGS")
    else:
        info = click.get_current_context().find_object(ScriptInfo)
        if info is not None:
            try:
                settings = info.load_app().config.get("SETTINGS")
            except NoAppException:
                settings = None
    return getattr(settings, name, default) if settings is not None else default


def _registry(templates_path: Path | None, *, validate: bool) -> TemplateRegistry:
    return load_templates(
        templates_path or _settings_value("templates_path", None),
        placeholder_image_url=_settings_value(
            "placeholder_image_url", DEFAULT_PLACEHOLDER_IMAGE_URL
        ),
        timezone=_settings_value("shop_timezone", DEFAULT_TIMEZONE),
        validate=validate,
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@templates_cli.command("preview", with_appcontext=False)
@click.argument("name")
@click.option("--data", "data_file", type=click.File(encoding="utf-8"), help="JSON data file.")
@click.option("--variant", default=None, help="Variant name (<name>@<variant>.json).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a page with every variant rendered as LINE shows it.",
)
@_path_option
def preview(
    name: str,
    data_file: Any,
    variant: str | None,
    html_file: Path | None,
    templates_path: Path | None,
) -> None:
    """Print NAME rendered with sample (or given) data: the Flex container, then the message."""
    try:
        registry = _registry(templates_path, validate=False)
        data = json.load(data_file) if data_file is not None else registry.sample(name)
        message = registry.render(name, data, variant=variant)
        if html_file is not None:
            variants = [variant] if variant is not None else [None, *registry.variants(name)]
            rendered = [(v, registry.render(name, data, variant=v)) for v in variants]
            html_file.write_text(preview_page(name, rendered), encoding="utf-8")
            click.echo(f"wrote {html_file} ({len(rendered)} variant(s))")
            return
    except (TemplateError, TemplateDataError, json.JSONDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("# contents (paste into the Flex Message Simulator)")
    click.echo(_dump(message["contents"]))
    click.echo("# message")
    click.echo(_dump(message))


@templates_cli.command("check", with_appcontext=False)
@_path_option
def check(templates_path: Path | None) -> None:
    """Render every template (overrides included) with sample data and validate it."""
    try:
        registry = _registry(templates_path, validate=False)
    except TemplateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    failed = False
    for name in registry.names():
        for variant in [None, *registry.variants(name)]:
            template = registry.template(name, variant)
            problems = registry.check(template)
            if problems:
                failed = True
                click.echo(f"error: {template.path}: " + "; ".join(problems), err=True)
            else:
                click.echo(f"ok: {template.path.name}")
    if failed:
        sys.exit(1)


PAGE_CSS = """
body { margin: 0; background: #f2f3f5; font-family: sans-serif; color: #222; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 18px; margin: 0; } h2 { font-size: 15px; margin: 0 0 4px; }
.note { font-size: 12px; color: #666; margin: 4px 0 0; }
section { margin: 16px 20px; }
.alt { font-size: 12px; color: #555; margin: 0 0 6px; }
.chat { background: #8cabd9; padding: 12px; border-radius: 8px; max-width: 100%; overflow-x: auto; }
"""


def preview_page(name: str, rendered: list[tuple[str | None, dict[str, Any]]]) -> str:
    """One standalone page showing each rendered variant as a chat screen would.

    Its only style element is allowed by hash in the page's own Content-Security-Policy,
    which also forbids scripts and every network request (images are placeholders).
    """
    sections = []
    for variant, message in rendered:
        body = render_messages([message])
        title = f"{name}@{variant}" if variant else f"{name} (default)"
        sections.append(
            f"<section><h2>{html.escape(title)}</h2>"
            f'<p class="alt">altText: {html.escape(str(message.get("altText", "")))}</p>'
            f'<div class="chat">{body.html}{render_quick_replies(message)}</div></section>'
        )
    values = render_messages([m for _, m in rendered]).value_css()
    css = base_stylesheet() + values + PAGE_CSS
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    policy = f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:"
    return (
        '<!doctype html>\n<html lang="ja"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f"<title>{html.escape(name)} preview</title><style>{css}</style></head><body>"
        f"<header><h1>{html.escape(name)}</h1>"
        '<p class="note">Rendered from sample data; images are placeholders. '
        "LINE's own rendering may differ by device and font.</p></header>"
        + "".join(sections)
        + "</body></html>\n"
    )
