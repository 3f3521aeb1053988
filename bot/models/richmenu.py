"""The rich menus `flask richmenu apply` last put on LINE, one row per menu of the file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class AppliedRichMenu(Base):
    """A menu of the rich menu file as it is on LINE now.

    `audience` says who gets it by link state ("linked", "unlinked", or None for a menu only
    reached through its alias); `digest` covers the request and the image, so re-applying an
    unchanged menu keeps it instead of replacing it.
    """

    __tablename__ = "applied_rich_menus"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    rich_menu_id: Mapped[str] = mapped_column(String(64))
    audience: Mapped[str | None] = mapped_column(String(16))
    alias_id: Mapped[str | None] = mapped_column(String(32))
    is_default: Mapped[bool] = mapped_column(default=False)
    digest: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime]
