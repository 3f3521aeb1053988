"""Draw the sample rich menu images (guest.png, member.png) beside this script.

A development tool, not run by the service or the tests (they use the committed PNGs):
Pillow and a Japanese font are needed only here.

    pip install pillow
    python data/richmenu/draw_images.py [--font /path/to/NotoSansCJK-Bold.ttc]

The button grid matches menus.yaml: one row of equal buttons on a 2500x843 menu.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 2500, 843
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
# (label, sub label, background) per button, left to right
MENUS = {
    "guest.png": [
        ("会員連携", "ポイント・注文をLINEで", "#06C755"),
        ("よくある質問", "送料・返品・お届け", "#2F80ED"),
        ("担当者と話す", "スタッフがお答えします", "#F2994A"),
    ],
    "member.png": [
        ("カートを見る", "お買い物の続きを", "#06C755"),
        ("注文履歴", "配送状況の確認", "#27AE60"),
        ("よくある質問", "送料・返品・お届け", "#2F80ED"),
        ("担当者と話す", "スタッフがお答えします", "#F2994A"),
    ],
}


def draw(buttons: list[tuple[str, str, str]], font_path: str) -> Image.Image:
    """One row of coloured buttons with a label and a smaller line under it."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "#FFFFFF")
    pen = ImageDraw.Draw(image)
    step = WIDTH / len(buttons)
    longest = max(len(label) for label, _, _ in buttons)
    big = ImageFont.truetype(font_path, min(128, int((step - 80) / longest)))
    small = ImageFont.truetype(font_path, 56 if len(buttons) < 4 else 44)
    for index, (label, sub, colour) in enumerate(buttons):
        left, right = round(index * step), round((index + 1) * step)
        pen.rectangle((left + 12, 12, right - 12, HEIGHT - 12), fill=colour)
        centre = (left + right) / 2
        pen.text((centre, HEIGHT * 0.44), label, font=big, fill="#FFFFFF", anchor="mm")
        pen.text((centre, HEIGHT * 0.66), sub, font=small, fill="#FFFFFF", anchor="mm")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--font", help="a TrueType/OpenType font with Japanese glyphs")
    args = parser.parse_args()
    font = args.font or next((f for f in FONT_CANDIDATES if Path(f).exists()), None)
    if font is None:
        raise SystemExit("no Japanese font found: pass --font")
    for name, buttons in MENUS.items():
        # A palette PNG: flat colours compress to a few tens of KB (LINE allows 1 MB).
        draw(buttons, font).quantize(colors=64).save(HERE / name, optimize=True)
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
