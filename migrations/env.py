"""Alembic environment: plain SQLAlchemy, settings from the environment, no Flask."""

from alembic import context

from storemon.config import load_settings
from storemon.database.engines import WRITE_LOCK, make_engine
from storemon.database.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    owned = engine is None
    if owned:
        # storemon's own calls hand over an engine; the alembic CLI reads DATABASE_URL
        engine = make_engine(load_settings().database_url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                # Under the loads' lock (SQLite: the writer lock of BEGIN IMMEDIATE), and the
                # revision read after taking it: two first runs on an empty database then
                # create the schema once, not twice at the same time.
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                config.attributes["revision_before"] = context.get_context().get_current_revision()
                context.run_migrations()
            connection.commit()
    finally:
        if owned:
            engine.dispose()


run_migrations_online()
