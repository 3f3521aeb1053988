"""Rich menus: the shop's menus from a YAML file, applied to LINE, switched by link state.

`file_format` reads and checks the file, `apply` puts it on LINE without a gap, `switching`
gives each shopper the menu for their link state, and `cli` is `flask richmenu`.
"""

from __future__ import annotations

from flask import Flask

from bot.richmenu import switching


def init_app(app: Flask) -> None:
    """Switch shoppers' menus when they link or unlink."""
    switching.connect_signals()
