"""The ceiling for the webhook benchmark: a Flask endpoint that does nothing."""

from flask import Flask

app = Flask(__name__)


@app.post("/callback")
def callback() -> tuple[str, int]:
    """Answer 200 without reading anything."""
    return "ok", 200
