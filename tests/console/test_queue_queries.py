"""The open-work tabs stay cheap to poll."""

from __future__ import annotations

from sqlalchemy import event

from tests.helpers.console import open_ticket


def test_the_open_queue_loads_its_shoppers_in_one_query(app, as_operator):
    for n in range(12):
        open_ticket(app, f"質問その{n}", line_user_id=f"U{n:032x}")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)

    engine = app.extensions["bot"].db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        page = as_operator.get("/console/queue?tab=waiting")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert page.status_code == 200 and page.get_data(as_text=True).count("山田 花子") >= 12
    shopper_reads = [
        s for s in statements if s.lstrip().startswith("SELECT") and "FROM shoppers" in s
    ]
    assert len(shopper_reads) <= 2  # one for the page's rows, not one per row
