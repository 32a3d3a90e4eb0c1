"""Column type helpers shared by the models."""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa

#: 64-bit integer primary keys on PostgreSQL; SQLite needs INTEGER to alias the rowid.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def enum_column(enum_cls: type[enum.Enum], length: int | None = None) -> sa.Enum:
    """An enum stored by value in a VARCHAR with a CHECK constraint (portable, readable)."""
    return sa.Enum(
        enum_cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=length or max(len(m.value) for m in enum_cls),
        name=enum_cls.__name__.lower(),
    )


def json_column() -> Any:
    """JSON on SQLite, JSONB on PostgreSQL."""
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
