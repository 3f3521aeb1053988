"""The console's 配信レポート: who may see it, the page, its JSON and CSV, and promotion."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from bot.consents import record_consent
from bot.delivery.insights import HIDDEN_TEXT
from bot.line.gateway import MessageQuota
from bot.models import VariantPromotion
from tests.helpers.console import post
from tests.helpers.report import S1, History, write_clear_winner, write_history

JULY = "?from=2025-07-01&to=2025-07-30"


def test_signed_out_is_sent_to_sign_in(client):
    response = client.get("/console/report")
    assert response.status_code == 302 and "/console/login" in response.location


def test_operator_sees_the_page(app, as_operator, line):
    line.quota = MessageQuota(limit=5000, used=1234)
    with app.app_context():
        write_history(app.extensions["bot"].db.session())
    response = as_operator.get("/console/report" + JULY)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "配信レポート" in html
    assert HIDDEN_TEXT in html  # s2/A: LINE hid the figure
    # s1: 30 on one day, hidden on the next; LINE's daily unique users summed (no period row)
    assert "延べ30以上" in html
    assert "延べ" in html and "重複を除いて" in html  # the notes say which is which
    assert "1,234 / 5,000" in html
    assert "<svg" in html and "<script" not in html.split("</head>")[1]
    assert "ホールドアウト" in html
    assert "カゴ落ちの理由" in html and "送料が高い" in html and "3,000円未満" in html
    assert 'id="channels-cart"' not in html  # LINE only: no channel table
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_scenario_sent_by_email_too_is_split_by_channel(app, as_operator):
    with app.app_context():
        session = app.extensions["bot"].db.session()
        h = History(session)
        for n, channel in ((1, "line"), (2, "email"), (3, "email")):
            h.delivery(f"s1_{n}", n, "s1", due=S1).channel = channel
        h.click("s1_2", S1 + timedelta(minutes=5))
        h.order("O2", 2, 4800, S1 + timedelta(hours=1), ["s1_2"])
        record_consent(
            session,
            member_id="M3",
            channel="email",
            purpose="marketing",
            granted=False,
            occurred_at=S1 + timedelta(hours=2),
            source="unsubscribe",
            now=S1 + timedelta(hours=2),
        )
        session.commit()
    html = as_operator.get("/console/report" + JULY).get_data(as_text=True)
    table = _between(html, 'id="channels-cart"', "</table>")
    cells = {
        channel: re.findall(
            r"<td>([^<]*)</td>", _between(table, f'data-channel="{channel}"', "</tr>")
        )
        for channel in ("LINE", "メール")
    }
    # step, variant, channel, sent, clicked, orders, revenue, opt-outs
    assert cells["LINE"] == ["s1", "—", "LINE", "1", "0", "0", "¥0", "0"]
    assert cells["メール"] == ["s1", "—", "メール", "2", "1", "1", "¥4,800", "1"]
    assert 'data-channel="SMS"' not in table


def _between(text: str, start: str, end: str) -> str:
    at = text.index(start)
    return text[at : text.index(end, at)]


def test_json_matches_the_figures(app, as_operator):
    with app.app_context():
        write_history(app.extensions["bot"].db.session())
    data = as_operator.get("/console/report/data.json" + JULY).get_json()
    assert data["period"] == {"from": "2025-07-01", "to": "2025-07-30", "timezone": "Asia/Tokyo"}
    s1 = next(r for r in data["rows"] if r["step"] == "s1")
    assert (s1["sent"], s1["clicked"], s1["orders"], s1["revenue"]) == (4, 2, 3, 9000)


def test_csv_export(app, as_operator):
    with app.app_context():
        write_history(app.extensions["bot"].db.session())
    response = as_operator.get("/console/report/deliveries.csv" + JULY)
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    a = next(r for r in rows if r["step"] == "s2" and r["variant"] == "A")
    assert a["opened"] == "" and a["opened_status"] == "hidden"  # never 0
    s1 = next(r for r in rows if r["step"] == "s1")
    assert s1["skipped_by_reason"] == "holdout=2;quiet_hours=1"
    assert s1["revenue"] == "9000"
    assert s1["opened_counted"] == "person_days"  # LINE's days summed: no period row here


def test_bad_dates_are_refused(as_operator):
    assert as_operator.get("/console/report?from=2025-13-01").status_code == 400
    assert as_operator.get("/console/report?from=2025-07-30&to=2025-07-01").status_code == 400


def test_only_admins_promote(app, as_operator):
    with app.app_context():
        write_clear_winner(app.extensions["bot"].db.session())
    assert _promote(as_operator, "B").status_code == 403


def test_admin_promotes_the_winner(app, as_admin):
    with app.app_context():
        write_clear_winner(app.extensions["bot"].db.session())
    html = as_admin.get("/console/report" + JULY).get_data(as_text=True)
    assert "勝ちパターン：B" in html and "「B」を昇格する" in html
    assert _promote(as_admin, "A").status_code == 409  # the loser
    assert _promote(as_admin, "B").status_code == 302
    with app.app_context():
        row = app.extensions["bot"].db.session().scalars(select(VariantPromotion)).one()
        assert (row.scenario_id, row.step_id, row.variant) == ("cart", "s2", "B")
        assert row.promoted_by_name == "管理 太郎"
        assert "CVR差 +0.2800" in row.evidence
    html = as_admin.get("/console/report" + JULY).get_data(as_text=True)
    assert "昇格済み：「B」（管理 太郎" in html


def _promote(client, variant: str):
    return post(
        client,
        "/console/report/promote",
        scenario="cart",
        step="s2",
        variant=variant,
        **{"from": "2025-07-01", "to": "2025-07-30"},
    )


def _promote_b(app, as_admin) -> None:
    with app.app_context():
        write_clear_winner(app.extensions["bot"].db.session())
    assert _promote(as_admin, "B").status_code == 302


def test_admin_withdraws_a_promotion(app, as_admin):
    _promote_b(app, as_admin)
    html = as_admin.get("/console/report" + JULY).get_data(as_text=True)
    assert "昇格を取り消す" in html
    done = post(as_admin, "/console/report/withdraw", scenario="cart", step="s2")
    assert done.status_code == 302
    with app.app_context():
        assert app.extensions["bot"].db.session().scalars(select(VariantPromotion)).all() == []
    html = as_admin.get("/console/report" + JULY).get_data(as_text=True)
    assert "昇格済み" not in html and "「B」を昇格する" in html
    # Twice, or a step never promoted: a reason, not a 500.
    again = post(as_admin, "/console/report/withdraw", scenario="cart", step="s2")
    assert again.status_code == 409
    assert "昇格済みのパターンはありません" in again.get_data(as_text=True)


def test_only_admins_withdraw(app, as_admin, as_operator):
    _promote_b(app, as_admin)
    assert "昇格を取り消す" not in as_operator.get("/console/report" + JULY).get_data(as_text=True)
    refused = post(as_operator, "/console/report/withdraw", scenario="cart", step="s2")
    assert refused.status_code == 403
    with app.app_context():
        assert len(app.extensions["bot"].db.session().scalars(select(VariantPromotion)).all()) == 1
