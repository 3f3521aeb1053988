"""Account linking (ID連携): link tokens, nonces, link history, idempotency, erasure counts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base
from bot.models.core import _enum


class IssuedLinkToken(Base):
    """A link token the bot obtained from LINE, and the LINE user it was issued for.

    LINE's accountLink event carries only the nonce, so this is how a nonce is tied to a user.
    """

    __tablename__ = "issued_link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_token: Mapped[str] = mapped_column(String(255), unique=True)
    line_user_id: Mapped[str] = mapped_column(String(64), index=True)
    issued_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LinkNonce(Base):
    """A single-use nonce the shop obtained for one member and one link token."""

    __tablename__ = "link_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), unique=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    link_token: Mapped[str] = mapped_column(String(255), index=True)
    line_user_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LinkAction(enum.StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"


class LinkSource(enum.StrEnum):
    API = "api"
    ACCOUNT_LINK = "account_link"
    SHOPPER = "shopper"


class LinkHistory(Base):
    """Every link and unlink, including links moved from another member or LINE user."""

    __tablename__ = "link_history"
    __table_args__ = (Index("ix_link_history_member_created", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[LinkAction] = mapped_column(_enum(LinkAction))
    source: Mapped[LinkSource] = mapped_column(_enum(LinkSource))
    member_id: Mapped[str] = mapped_column(String(128))
    line_user_id: Mapped[str] = mapped_column(String(64), index=True)
    # On a move: the member the LINE user had before, or the LINE user the member had before.
    previous_member_id: Mapped[str | None] = mapped_column(String(128), index=True)
    previous_line_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]


class IdempotencyRecord(Base):
    """The first response to a shop API request sent with an Idempotency-Key."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(1000))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(index=True)


class ErasureCount(Base):
    """Anonymised tallies of erased data (no identifiers): what was removed, how many rows."""

    __tablename__ = "erasure_counts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
