"""The schema is built by the migrations, and the models agree with them."""

from __future__ import annotations

import sqlalchemy as sa

from passport.migrate import check
from passport.models import Base


def test_models_match_migrations(engine: sa.Engine, database_url: str) -> None:
    check(database_url)  # raises when autogenerate would emit operations


def test_every_model_table_exists(engine: sa.Engine) -> None:
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "passages" in tables and "alembic_version" in tables
