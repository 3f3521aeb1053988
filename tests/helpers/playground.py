"""Playground test helpers: its JSON API over a Flask test client, posted from its own origin."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

ORIGIN = "http://localhost"  # the Flask test client's own origin


class Playground:
    """The playground's JSON API over the test client, posting from its own page's origin."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/dev/playground{path}", **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        headers = {"Origin": ORIGIN, **kwargs.pop("headers", {})}
        return self.client.post(f"/dev/playground{path}", json=body, headers=headers, **kwargs)
