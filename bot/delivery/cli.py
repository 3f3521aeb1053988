"""`flask deliveries ...`: look at a member's deliveries, replay a failed one, and send a step or
template to staff as a test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from bot.core.services import current_services
from bot.delivery import channel_render, handoff, staff_recipients, staff_sends
from bot.delivery import engine as deliveries
from bot.delivery.receivers import delivery_rules
from bot.models import Delivery, Operator, Shopper

# `health` is added to this group by bot/cli.py (it reports on more than deliveries).
deliveries_cli = AppGroup("deliveries", help="Step deliveries: list, retry, test, preview, health.")


@deliveries_cli.command("list")
@click.option("--member", "member_id", help="The shop's member id.")
@click.option("--line-user", "line_user_id", help="Or the LINE user id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(member_id: str | None, line_user_id: str | None, as_json: bool) -> None:
    """What is pending, sent, and why something was skipped or cancelled."""
    if not member_id and not line_user_id:
        raise click.UsageError("give --member M123 or --line-user U...")
    session = current_services().db.session()
    column = Shopper.member_id if member_id else Shopper.line_user_id
    shopper = session.scalars(select(Shopper).where(column == (member_id or line_user_id))).first()
    if shopper is None:
        raise click.ClickException("no shopper with that id (is the member linked?)")
    rows = deliveries.member_deliveries(session, shopper)
    flows = deliveries.member_flows(session, shopper)
    if as_json:
        click.echo(json.dumps({"deliveries": rows, "flows": flows}, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        when = row["sent_at"] or row["due_at"]
        variant = f"@{row['variant']}" if row["variant"] else ""
        click.echo(
            f"{row['id']:>8}  {row['state']:<9}  {when[:16]}  {row['scenario']}/{row['step']}"
            f"{variant}  {row['reason'] or ''}"
        )
    for flow in flows:
        if flow["end_reason"] and flow["end_reason"].startswith("cooldown"):
            click.echo(f"  flow {flow['scenario']} {flow['subject']}: {flow['end_reason']}")


@deliveries_cli.command("retry")
@click.argument("delivery_id", type=int)
def retry_command(delivery_id: int) -> None:
    """Send a failed delivery again now (after fixing what made it fail)."""
    services = current_services()
    session = services.db.session()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise click.ClickException(f"no delivery {delivery_id}")
    try:
        deliveries.retry_delivery(session, delivery, services.clock.now())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"delivery {delivery_id} is pending again; the dispatcher sends it on its next tick")


@deliveries_cli.command("test")
@click.argument("scenario", required=False)
@click.argument("step", required=False)
@click.option("--to", "to", required=True, help="A staff member's console e-mail, or `all`.")
@click.option("--template", "template", help="A template (NAME or NAME@VARIANT) instead.")
@click.option("--variant", "variant", help="The step's A/B variant (default: its first).")
@click.option("--member", "member_id", help="Render with this member's real data.")
def test_command(
    scenario: str | None,
    step: str | None,
    to: str,
    template: str | None,
    variant: str | None,
    member_id: str | None,
) -> None:
    """Send a scenario step (or --template) to staff test recipients, marked 【テスト配信】.

    Not a delivery: no report, cap or attribution counts it. Staff register their LINE account
    in the console first (「テスト受信」).
    """
    services = current_services()
    session = services.db.session()
    if template and (scenario or step):
        raise click.UsageError("give SCENARIO STEP or --template NAME, not both")
    if not template and not (scenario and step):
        raise click.UsageError("give SCENARIO STEP, or --template NAME")
    everyone = staff_recipients.recipients(session)
    if to == "all":
        targets = everyone
    else:
        operator = session.scalar(select(Operator).where(Operator.email == to.strip().lower()))
        if operator is None:
            raise click.ClickException(f"no staff account {to!r}")
        targets = [r for r in everyone if r.operator_id == operator.id]
        if not targets:
            raise click.ClickException(
                f"{to} has no test recipient (or the account is disabled): "
                "register a LINE account in the console first"
            )
    try:
        if template:
            name, _, layout = template.partition("@")
            choice = staff_sends.template_choice(services.templates, name, layout or None)
        else:
            assert scenario is not None and step is not None
            choice = staff_sends.step_choice(
                delivery_rules(services).book, services.templates, scenario, step, variant
            )
        message = staff_sends.prepare(
            session, services.templates, choice, member_id, services.settings
        )
        outcome = staff_sends.send(
            session,
            services.line,
            choice,
            message,
            targets,
            member_id=member_id,
            sent_by="command line",
            sender_id=None,
            send_key=uuid.uuid4().hex,
            now=services.clock.now(),
        )
    except staff_sends.StaffSendError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    session.commit()
    for report in outcome.reports:
        who = f"{report.recipient.operator_name} <{report.recipient.operator_email}>"
        line = f"{report.state:<9}  {who}  {choice.label}"
        click.echo(f"{line}  {report.error}" if report.error else line)
    if outcome.failed:
        raise SystemExit(1)


@deliveries_cli.command("preview")
@click.argument("template")
@click.option(
    "--channel", type=click.Choice(["email", "sms"]), required=True, help="Which version."
)
@click.option("--data", "data_file", type=click.File(encoding="utf-8"), help="JSON data file.")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, writable=True),
    help="E-mail: write the HTML part here (open it in a browser).",
)
@click.option("--transactional", is_flag=True, help="As a non-marketing message (no opt-out).")
def preview_command(
    template: str, channel: str, data_file: Any, html_out: str | None, transactional: bool
) -> None:
    """Render the e-mail or SMS version of a template with its sample data (or --data), as a
    shopper would get it: subject and text (and the HTML part to a file), or the SMS text with
    its length in segments. Links are shown as they are, not as tracked links."""
    settings = current_services().settings
    data = json.load(data_file) if data_file else channel_render.sample_data(template)
    if not isinstance(data, dict):
        raise click.UsageError(f"no sample data for {template!r}: give --data FILE (a JSON object)")
    try:
        if channel == "sms":
            text = channel_render.render_sms(
                template,
                data,
                link=lambda url: url,
                opt_out=None if transactional else handoff.SMS_OPT_OUT,
                tz=settings.tz,
            )
            click.echo(text)
            units = channel_render.ucs2_units(text)
            click.echo(f"-- {units} characters, {channel_render.sms_segments(text)} SMS segment(s)")
            return
        content = channel_render.render_email(
            template,
            data,
            link=lambda url: url,
            footer=handoff.email_footer(
                settings,
                None if transactional else "https://…/email/unsubscribe/…",
                marketing=not transactional,
            ),
            tz=settings.tz,
        )
    except channel_render.ChannelTemplateError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Subject: {content.subject}\n\n{content.text}", nl=False)
    if html_out:
        Path(html_out).write_text(content.html, encoding="utf-8")
        click.echo(f"-- HTML part written to {html_out}")
