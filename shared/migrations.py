"""Alembic plumbing shared by the services' ``migrations/env.py`` and ``waymark migrate``.

Each service keeps its own Alembic environment and history under its folder; this
module only holds the few lines every ``env.py`` would otherwise repeat.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.pool import NullPool

from shared.db import ensure_sqlite_dir, install_sqlite_pragmas, sync_url


def alembic_config(package: str, url: str) -> Config:
    """The Alembic config of a service package (``registry``, ``checkin``, ...)."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


def run_env(metadata: sa.MetaData, default_url: str) -> None:
    """The body of a service's ``env.py``: offline SQL or online against the URL."""
    config = context.config
    url = sync_url(config.get_main_option("sqlalchemy.url") or default_url)
    # Batch mode so ALTERs work on SQLite; the same revisions run on PostgreSQL.
    options = {"target_metadata": metadata, "render_as_batch": True, "compare_type": True}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    ensure_sqlite_dir(url)
    engine = sa.create_engine(url, poolclass=NullPool, hide_parameters=True)
    install_sqlite_pragmas(engine)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


Checks = dict[str, dict[str, tuple[str, ...]]]


def add_checks(checks: Checks) -> None:
    """In a revision's ``upgrade``: for ``{table: {column: values}}``, a CHECK named
    ``ck_<table>_<column>`` that the column holds one of ``values`` (or NULL). Batch mode,
    so SQLite rebuilds the table. A revision writes its values out rather than importing
    an enum: it states the schema as it was on its day."""
    from alembic import op

    for table, columns in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in columns.items():
                batch_op.create_check_constraint(
                    op.f(f"ck_{table}_{column}"),
                    f"{column} IN ({', '.join(repr(v) for v in values)})")


def drop_checks(checks: Checks) -> None:
    """In a revision's ``downgrade``: drop what ``add_checks(checks)`` added."""
    from alembic import op

    for table, columns in checks.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
