"""The Core table of a SQLModel class, typed (the batches read and write plain rows through it), and
the form a query names a list of composite keys in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, and_, inspect, or_
from sqlmodel import SQLModel

T = TypeVar("T")


def table_of(model: type[SQLModel]) -> Table:
    """`model.__table__`, which SQLModel does not declare to type checkers."""
    table = inspect(model).local_table
    assert isinstance(table, Table)  # a table=True model maps exactly one Table
    return table


# A key list is spelt as ORs of equalities, not `(a, b) IN (VALUES …)`: SQLite reads row values
# against a VALUES list by scanning the whole table (20-70 ms a batch on 12,000 incidents), where it
# takes an index for each OR'ed equality (about 2 ms). PostgreSQL rewrites the IN form into these ORs
# itself. Each number of keys is a statement of its own, compiled and kept by SQLAlchemy and by each
# connection's statement cache (200 of them held 57 MB), so a list is padded, with its last key
# repeated, to a power of two: eight shapes in all. And SQLite nests an OR chain one level per term
# and refuses 1,000: callers query in chunks of KEYS_PER_QUERY.
KEYS_PER_QUERY = 128


def any_key(columns: Sequence[ColumnElement[Any]], keys: Sequence[Sequence[Any]]) -> ColumnElement[bool]:
    """`columns` equal one of `keys` (each a value per column), as one OR of ANDs."""
    if not keys or len(keys) > KEYS_PER_QUERY:
        raise ValueError(f"{len(keys)} keys in one query: name 1 to {KEYS_PER_QUERY} (key_chunks)")
    padded = [*keys, *[keys[-1]] * ((1 << (len(keys) - 1).bit_length()) - len(keys))]
    return or_(*(and_(*(column == value for column, value in zip(columns, key, strict=True))) for key in padded))


def key_chunks(keys: Sequence[T]) -> Iterator[Sequence[T]]:
    """`keys` in chunks a query can name with any_key."""
    for start in range(0, len(keys), KEYS_PER_QUERY):
        yield keys[start : start + KEYS_PER_QUERY]
