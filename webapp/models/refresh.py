from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base


class Refresh(Base):
    """One run of the refresher over one saved search."""

    __tablename__ = "refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    changed_count: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The questions counted in new_count and changed_count, as space-separated
    # ids, so that the results page can mark their rows.
    new_ids: Mapped[str | None] = mapped_column(Text)
    changed_ids: Mapped[str | None] = mapped_column(Text)

    @property
    def new_question_ids(self) -> frozenset[int]:
        return _ids(self.new_ids)

    @property
    def changed_question_ids(self) -> frozenset[int]:
        return _ids(self.changed_ids)


class Event(Base):
    """A change announced to browsers; ids only grow, for catching up.

    On SQLite the id is AUTOINCREMENT: without it, deleting the newest
    events would let their ids be handed out again, and a browser that saw
    them would skip the new ones when it catches up.
    """

    __tablename__ = "events"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # The JSON message exactly as published on the Redis channel.
    payload: Mapped[str] = mapped_column(Text)


class RefreshLock(Base):
    """A refresher working on a search, recorded here when Redis is down.

    The row is free once ``expires_at`` has passed; ``owner`` is the lock's
    token (host, process id and a random part).
    """

    __tablename__ = "refresh_locks"

    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


def _ids(text: str | None) -> frozenset[int]:
    return frozenset(int(word) for word in (text or "").split())


def id_list(ids) -> str:
    """The stored spelling of a set of question ids."""
    return " ".join(str(i) for i in sorted(ids))
