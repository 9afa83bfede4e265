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


def append_only(table: str) -> None:
    """In a revision's ``upgrade``: triggers that refuse ``UPDATE`` and ``DELETE`` on
    ``table`` (and ``TRUNCATE`` on PostgreSQL), whoever asks. SQLite drops a table's
    triggers when batch mode rebuilds it: a later revision that alters ``table`` in
    batch mode must call this again."""
    from alembic import op

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION waymark_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only', "
            "TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION waymark_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION waymark_append_only()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")


def drop_append_only(table: str) -> None:
    """In a revision's ``downgrade``: drop what ``append_only(table)`` made."""
    from alembic import op

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def create_audit_trail(actions: tuple[str, ...]) -> None:
    """In a revision's ``upgrade``: the ``audit_entries`` and ``audit_head`` tables of
    ``shared.audit`` as first shipped (issue 11), with ``actions`` as the service's
    vocabulary, the head at entry 0 with the genesis hash, and ``append_only``. Frozen:
    a later change to the trail is a new revision of its own, never an edit here."""
    from alembic import op
    from sqlmodel import AutoString

    from shared.db import UTCDateTime

    big_integer = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    roles = ("caseworker", "officer", "supervisor", "authority", "service")
    op.create_table(
        "audit_entries",
        sa.Column("seq", big_integer, autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", AutoString(length=128), nullable=False),
        sa.Column("role", AutoString(length=16), nullable=False),
        sa.Column("action", AutoString(length=48), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("client", AutoString(length=64), nullable=True),
        sa.Column("request_id", AutoString(length=128), nullable=True),
        sa.Column("prev_hash", AutoString(length=64), nullable=False),
        sa.CheckConstraint(f"action IN ({', '.join(repr(a) for a in actions)})",
                           name=op.f("ck_audit_entries_action")),
        sa.CheckConstraint(f"role IN ({', '.join(repr(r) for r in roles)})",
                           name=op.f("ck_audit_entries_role")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_actor_seq", "audit_entries", ["actor", "seq"])
    op.create_index(op.f("ix_audit_entries_at"), "audit_entries", ["at"])
    op.create_index("ix_audit_entries_case_id_seq", "audit_entries", ["case_id", "seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", big_integer, nullable=False),
        sa.Column("hash", AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")
    append_only("audit_entries")


def drop_audit_trail() -> None:
    """In a revision's ``downgrade``: drop what ``create_audit_trail`` made."""
    from alembic import op

    drop_append_only("audit_entries")
    op.drop_table("audit_head")
    op.drop_table("audit_entries")


def sqlite_autoincrement(table: str, *, on: bool) -> None:
    """In a revision: make ``table``'s integer key AUTOINCREMENT on SQLite (a rebuild),
    or plain again. A feed that deletes events needs it: SQLite would otherwise hand
    out the highest deleted id again, below a consumer's cursor. PostgreSQL never
    reuses an identity value: nothing to do there."""
    from alembic import op

    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": on}):
            pass
