from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base


class APIBackoff(Base):
    """The earliest time a Stack Exchange API method may be called again.

    Shared by every process through the database (and Redis, when there is
    one) so that a ``backoff`` seen by one process holds for all.
    """

    __tablename__ = "api_backoff"

    method: Mapped[str] = mapped_column(String(200), primary_key=True)
    not_before: Mapped[float] = mapped_column(Float)


class APIQuota(Base):
    """The last quota the API reported, one row per key (or anonymous)."""

    __tablename__ = "api_quota"

    caller: Mapped[str] = mapped_column(String(20), primary_key=True)
    quota_max: Mapped[int] = mapped_column(Integer)
    quota_remaining: Mapped[int] = mapped_column(Integer)
    reported_at: Mapped[datetime] = mapped_column(DateTime)
