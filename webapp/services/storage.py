"""Database writes shared by the web app and the refresher.

Writes never happen inside a transaction that also waits on the Stack
Exchange API: callers fetch first, then open a short :func:`write_session`.
On SQLite that session starts with ``BEGIN IMMEDIATE``, so two writers queue
on the busy timeout instead of failing with "database is locked"; on
PostgreSQL, rows are upserted with ``ON CONFLICT`` so two processes storing
the same question leave one row.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

IMMEDIATE = {"sqlite_begin": "IMMEDIATE"}


@contextmanager
def write_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with session_factory() as session:
        session.connection(execution_options=IMMEDIATE)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upsert(
    session: Session,
    model: type,
    values: dict[str, Any] | Sequence[dict[str, Any]],
    keys: list[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert rows, or update the given columns of rows that exist already.

    ``update`` defaults to every column that is not part of ``keys``; an
    empty list means "insert if missing, otherwise leave alone".
    """
    rows = [values] if isinstance(values, dict) else list(values)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Rows go as parameters of one cached statement (an executemany), not
    # inlined into the SQL: compiling a new statement per batch was most of
    # the cost of storing a page.
    statement = insert(model.__table__)
    columns = [c for c in rows[0] if c not in keys] if update is None else list(update)
    if columns:
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={c: getattr(excluded, c) for c in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement, rows)
