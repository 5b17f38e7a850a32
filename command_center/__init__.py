"""The hub's kernel: settings, database, identity, courts and routing, legal calendar, audit, outbox."""

from sqlmodel import SQLModel

# Named constraints: Alembic's batch mode on SQLite needs names to alter tables, and PostgreSQL
# migrations stay reproducible. Set before any table is declared.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
