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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base


class Owner(Base):
    """A registered author of questions on one site."""

    __tablename__ = "owners"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False
    )
    display_name: Mapped[str] = mapped_column(String(200))
    user_type: Mapped[str] = mapped_column(String(30))
    reputation: Mapped[int | None] = mapped_column(Integer)
    link: Mapped[str | None] = mapped_column(String(500))


class Question(Base):
    """One question on one site, as the API last returned it.

    Text arrives HTML-entity-encoded from the API and is stored decoded, so
    templates escape it exactly once.  The ``previous_*`` columns keep the
    values before the last change, which the refresher uses to mark rows.
    """

    __tablename__ = "questions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "owner_user_id"], ["owners.site_id", "owners.user_id"]
        ),
        Index("ix_questions_owner", "site_id", "owner_user_id"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    question_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False
    )
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(1000))
    score: Mapped[int] = mapped_column(Integer)
    answer_count: Mapped[int] = mapped_column(Integer)
    view_count: Mapped[int] = mapped_column(Integer)
    is_answered: Mapped[bool] = mapped_column(Boolean)
    accepted_answer_id: Mapped[int | None] = mapped_column(BigInteger)
    closed_date: Mapped[int | None] = mapped_column(BigInteger)
    closed_reason: Mapped[str | None] = mapped_column(String(200))
    creation_date: Mapped[int] = mapped_column(BigInteger)
    last_activity_date: Mapped[int] = mapped_column(BigInteger)
    last_edit_date: Mapped[int | None] = mapped_column(BigInteger)
    owner_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # Kept on the question as well: deleted and unregistered owners have a
    # name but no user id, so they have no row in owners.
    owner_name: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    previous_score: Mapped[int | None] = mapped_column(Integer)
    previous_answer_count: Mapped[int | None] = mapped_column(Integer)

    owner: Mapped[Owner | None] = relationship(viewonly=True)
    tag_links: Mapped[list["QuestionTag"]] = relationship(
        viewonly=True, order_by="QuestionTag.position"
    )

    @property
    def tag_names(self) -> list[str]:
        # services.results.read_rows fills preloaded_tag_names for a whole
        # page at once; otherwise the links are loaded one question at a time.
        preloaded = self.__dict__.get("preloaded_tag_names")
        if preloaded is not None:
            return preloaded
        return [link.tag.name for link in self.tag_links]


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    name: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("uq_tags_site_name", "site_id", "name", unique=True),)


class QuestionTag(Base):
    """Which tags a question carries, in the order the API lists them."""

    __tablename__ = "question_tags"
    __table_args__ = (
        ForeignKeyConstraint(
            ["site_id", "question_id"],
            ["questions.site_id", "questions.question_id"],
            ondelete="CASCADE",
        ),
        Index("ix_question_tags_tag", "tag_id"),
    )

    site_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    tag: Mapped[Tag] = relationship(lazy="joined", viewonly=True)
