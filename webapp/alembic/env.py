"""Alembic environment: migrates the database named by the caller's config."""

from alembic import context

from webapp.models import Base, get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online():
    engine = config.attributes.get("engine") or get_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
