"""Reading rendered markup in tests: its tags, their attributes and its text."""

from __future__ import annotations

from html.parser import HTMLParser


class ParsedHtml(HTMLParser):
    """Tags with their attributes, and the text, of a page or a fragment."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
