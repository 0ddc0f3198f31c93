from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base
from .site import Site


class SavedSearch(Base):
    """A search somebody ran: a site plus normalised API parameters.

    ``params_key`` is the canonical JSON of the parameters and
    ``params_hash`` its SHA-256; the hash and the site are unique together
    (an index on the JSON itself could outgrow PostgreSQL's key size), so
    running the same search again reuses this row.
    """

    __tablename__ = "searches"
    __table_args__ = (UniqueConstraint("site_id", "params_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    params_key: Mapped[str] = mapped_column(Text)
    params_hash: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_run_at: Mapped[datetime] = mapped_column(DateTime)
    last_viewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime)
    row_count: Mapped[int] = mapped_column(Integer, default=0)

    site: Mapped[Site] = relationship(lazy="joined")
    orderings: Mapped[list["SearchOrdering"]] = relationship(
        back_populates="search", cascade="all, delete-orphan"
    )


class SearchOrdering(Base):
    """One sort and order of a search, and how much of it is stored."""

    __tablename__ = "search_orderings"

    search_id: Mapped[int] = mapped_column(
        ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True
    )
    sort: Mapped[str] = mapped_column(String(20), primary_key=True)
    order: Mapped[str] = mapped_column("sort_order", String(4), primary_key=True)
    # The number of rows the API has, once a page with has_more false has
    # been seen; None while the end is not known yet.
    total: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)

    search: Mapped[SavedSearch] = relationship(back_populates="orderings")
    pages: Mapped[list["ResultPage"]] = relationship(
        cascade="all, delete-orphan", order_by="ResultPage.api_page"
    )


class ResultPage(Base):
    """One API page (100 rows) of an ordering, as last fetched."""

    __tablename__ = "result_pages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["search_id", "sort", "sort_order"],
            [
                "search_orderings.search_id",
                "search_orderings.sort",
                "search_orderings.sort_order",
            ],
            ondelete="CASCADE",
        ),
    )

    search_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sort: Mapped[str] = mapped_column(String(20), primary_key=True)
    order: Mapped[str] = mapped_column("sort_order", String(4), primary_key=True)
    api_page: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_count: Mapped[int] = mapped_column(Integer)
    has_more: Mapped[bool] = mapped_column(Boolean)
    fetched_at: Mapped[datetime] = mapped_column(DateTime)


class SearchResult(Base):
    """The question at one position of an ordering.

    Positions are absolute: row ``i`` of API page ``p`` is at
    ``(p - 1) * 100 + i``, so pages can be fetched in any order.
    """

    __tablename__ = "search_results"
    __table_args__ = (
        ForeignKeyConstraint(
            ["search_id", "sort", "sort_order"],
            [
                "search_orderings.search_id",
                "search_orderings.sort",
                "search_orderings.sort_order",
            ],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["site_id", "question_id"], ["questions.site_id", "questions.question_id"]
        ),
        Index("ix_search_results_question", "site_id", "question_id"),
    )

    search_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sort: Mapped[str] = mapped_column(String(20), primary_key=True)
    order: Mapped[str] = mapped_column("sort_order", String(4), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(DateTime)

    question = relationship("Question", lazy="joined", viewonly=True)
