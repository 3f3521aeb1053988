"""`flask templates preview|check`: render templates for the Flex Message Simulator, check them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup, NoAppException, ScriptInfo

from flex_templates.builders import TemplateDataError
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
@_path_option
def preview(name: str, data_file: Any, variant: str | None, templates_path: Path | None) -> None:
    """Print NAME rendered with sample (or given) data: the Flex container, then the message."""
    try:
        registry = _registry(templates_path, validate=False)
        data = json.load(data_file) if data_file is not None else registry.sample(name)
        message = registry.render(name, data, variant=variant)
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
