"""Reading and writing the shop's FAQ file (YAML with a top-level ``faqs`` list)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_STR_TAG = "tag:yaml.org,2002:str"
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_FIELDS = ("id", "category", "question", "variants", "keywords", "answer")
_REQUIRED = ("id", "question", "answer")
MAX_ANSWER_CHARS = 5000  # a LINE text message holds at most 5,000 characters


@dataclass(frozen=True)
class FaqEntry:
    """One question the shop answers, with its other phrasings and telling words."""

    id: str
    question: str
    variants: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str
    category: str | None = None


class FaqFileError(ValueError):
    """The FAQ file cannot be used; ``line`` is 1-based, or None when it is not known."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{reason}")


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _text(node: Node, what: str) -> str:
    # The tag check refuses `id: 123` or `answer: yes`, which YAML would read as int and bool.
    if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
        raise FaqFileError(_line(node), f"{what} must be a string")
    value = str(node.value).strip()
    if not value:
        raise FaqFileError(_line(node), f"{what} must not be empty")
    return value


def _text_list(node: Node, what: str) -> tuple[str, ...]:
    if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return ()
    if not isinstance(node, SequenceNode):
        raise FaqFileError(_line(node), f"{what} must be a list of strings")
    return tuple(_text(item, f"each item of {what}") for item in node.value)


def _entry(node: Node, seen: dict[str, int]) -> FaqEntry:
    if not isinstance(node, MappingNode):
        raise FaqFileError(_line(node), "each item of faqs must be a mapping")
    fields: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        if key not in _FIELDS:
            raise FaqFileError(_line(key_node), f"unknown field {key!r}")
        if key in fields:
            raise FaqFileError(_line(key_node), f"field {key!r} appears twice")
        fields[key] = value_node
    for key in _REQUIRED:
        if key not in fields:
            raise FaqFileError(_line(node), f"entry has no {key}")
    faq_id = _text(fields["id"], "id")
    if not _ID_RE.match(faq_id):
        raise FaqFileError(_line(fields["id"]), f"id {faq_id!r} may use only A-Z a-z 0-9 _ . -")
    if faq_id in seen:
        raise FaqFileError(
            _line(fields["id"]), f"duplicate id {faq_id!r} (first on line {seen[faq_id]})"
        )
    seen[faq_id] = _line(fields["id"])
    category_node = fields.get("category")
    category = None
    if category_node is not None and category_node.tag != "tag:yaml.org,2002:null":
        category = _text(category_node, "category")
    return FaqEntry(
        id=faq_id,
        question=_text(fields["question"], "question"),
        variants=_text_list(fields["variants"], "variants") if "variants" in fields else (),
        keywords=_text_list(fields["keywords"], "keywords") if "keywords" in fields else (),
        answer=_answer(fields["answer"]),
        category=category,
    )


def _answer(node: Node) -> str:
    answer = _text(node, "answer")
    if len(answer) > MAX_ANSWER_CHARS:
        raise FaqFileError(
            _line(node),
            f"answer has {len(answer):,} characters; a LINE message holds {MAX_ANSWER_CHARS:,}",
        )
    return answer


def parse_faq_text(text: str) -> list[FaqEntry]:
    """Parse FAQ YAML text, raising FaqFileError with the line of the first problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise FaqFileError(line, f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise FaqFileError(None, f"not valid YAML: {exc}") from exc
    if root is None:
        raise FaqFileError(None, "the file is empty")
    if not isinstance(root, MappingNode):
        raise FaqFileError(_line(root), "the top level must be a mapping with a faqs list")
    faqs_node: Node | None = None
    for key_node, value_node in root.value:
        if not isinstance(key_node, ScalarNode) or key_node.value != "faqs":
            raise FaqFileError(_line(key_node), f"unknown top-level key {key_node.value!r}")
        if faqs_node is not None:
            raise FaqFileError(_line(key_node), "faqs appears twice")
        faqs_node = value_node
    if faqs_node is None:
        raise FaqFileError(_line(root), "there is no faqs list")
    if not isinstance(faqs_node, SequenceNode):
        raise FaqFileError(_line(faqs_node), "faqs must be a list")
    seen: dict[str, int] = {}
    return [_entry(item, seen) for item in faqs_node.value]


def load_faq_file(path_or_text: str | Path) -> list[FaqEntry]:
    """Load FAQ entries from a file path or from the YAML text itself."""
    if isinstance(path_or_text, Path):
        return parse_faq_text(path_or_text.read_text(encoding="utf-8"))
    # A single line that is not YAML with a faqs key is taken as a path.
    if "\n" not in path_or_text and "faqs" not in path_or_text:
        return parse_faq_text(Path(path_or_text).read_text(encoding="utf-8"))
    return parse_faq_text(path_or_text)


def dump_faq_file(entries: list[FaqEntry] | tuple[FaqEntry, ...]) -> str:
    """Render entries as FAQ YAML that load_faq_file reads back to equal entries."""
    items = []
    for entry in entries:
        item: dict[str, object] = {"id": entry.id}
        if entry.category is not None:
            item["category"] = entry.category
        item["question"] = entry.question
        if entry.variants:
            item["variants"] = list(entry.variants)
        if entry.keywords:
            item["keywords"] = list(entry.keywords)
        item["answer"] = entry.answer
        items.append(item)
    return yaml.safe_dump(
        {"faqs": items}, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000
    )
