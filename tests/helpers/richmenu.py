"""Rich menu test material: small valid PNG/JPEG headers and menu files on disk."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import yaml

from bot.core.settings import REPO_ROOT

SAMPLE_FILE = REPO_ROOT / "data" / "richmenu" / "menus.yaml"


def png_bytes(width: int, height: int, padding: int = 0) -> bytes:
    """A real (white, 1-bit grey) PNG of the given size; `padding` adds bytes after IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\0" + b"\xff" * ((width + 7) // 8)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height, 9))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"") + b"\0" * padding


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG (SOI, APP0, SOF0): enough for LINE's size check."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def button(x: int, width: int, action: dict[str, Any], height: int = 843) -> dict[str, Any]:
    return {"bounds": {"x": x, "y": 0, "width": width, "height": height}, "action": action}


def menu(**changes: Any) -> dict[str, Any]:
    """A valid menu entry (one postback button over a 2500x843 image `m.png`)."""
    base: dict[str, Any] = {
        "image": "m.png",
        "size": {"width": 2500, "height": 843},
        "chatBarText": "メニュー",
        "selected": False,
        "areas": [button(0, 2500, {"type": "postback", "data": "action=link"})],
    }
    return base | changes


def write_menu_file(directory: Path, menus: dict[str, Any], name: str = "menus.yaml") -> Path:
    """The file with `menus`, and a matching 2500x843 m.png beside it (unless present)."""
    image = directory / "m.png"
    if not image.exists():
        image.write_bytes(png_bytes(2500, 843))
    path = directory / name
    path.write_text(yaml.safe_dump({"menus": menus}, allow_unicode=True), encoding="utf-8")
    return path
