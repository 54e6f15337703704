"""Declarative base with a constraint naming convention, so Alembic migrations name
constraints the same way on SQLite and PostgreSQL (and can drop them later by name)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import BigInteger, LargeBinary, MetaData, String
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Protocol integers (times, seq, money) exceed 32 bits; primary keys are declared
    # explicitly as Integer because SQLite only auto-increments INTEGER PRIMARY KEY.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger,
        bytes: LargeBinary,
        str: String,
    }
