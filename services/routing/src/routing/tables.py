"""The Core table of a SQLModel class, typed: the batches read and write plain rows through it."""

from __future__ import annotations

from sqlalchemy import Table, inspect
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """`model.__table__`, which SQLModel does not declare to type checkers."""
    table = inspect(model).local_table
    assert isinstance(table, Table)  # a table=True model maps exactly one Table
    return table
