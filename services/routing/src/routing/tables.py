"""The Core table of a SQLModel class, typed (the batches read and write plain rows through it), and
the forms a query names a list of composite keys in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Executable, String, Table, and_, bindparam, func, inspect, or_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

T = TypeVar("T")


def table_of(model: type[SQLModel]) -> Table:
    """`model.__table__`, which SQLModel does not declare to type checkers."""
    table = inspect(model).local_table
    assert isinstance(table, Table)  # a table=True model maps exactly one Table
    return table


# On SQLite a key list is spelt as ORs of equalities, not `(a, b) IN (VALUES …)`: SQLite reads row
# values against a VALUES list by scanning the whole table (20-70 ms a batch on 12,000 incidents), where
# it takes an index for each OR'ed equality (about 2 ms). Each number of keys is a statement of its own,
# compiled and kept by SQLAlchemy and by each connection's statement cache (200 of them held 57 MB), so
# a list is padded, with its last key repeated, to a power of two: eight shapes in all. And SQLite nests
# an OR chain one level per term and refuses 1,000: a query names at most KEYS_PER_QUERY keys.
#
# PostgreSQL gets the keys as one array per column, joined through unnest(): one statement for any
# number of keys. It plans 64 OR'ed pairs in 4-5 ms and runs them as a BitmapOr of single-column
# indexes (4-10 ms on the benchmark's 6,000 incidents); the join takes the composite index per key,
# 0.4 ms to plan and 0.9 ms to run.
KEYS_PER_QUERY = 128


class KeyedQuery:
    """A SELECT over a list of composite keys (`columns` equal one of them), in the form the database
    plans best (see above).

    Each statement is built once, its keys and `build`'s other values as bound parameters: building
    128 equalities and their cache key on every batch was 7 % of routing's CPU."""

    def __init__(self, columns: Sequence[ColumnElement[Any]], build: Callable[[ColumnElement[bool]], Executable]):
        self.columns = tuple(columns)
        self._build = build
        self._statements: dict[int, Executable] = {}
        self._array_statement: Executable | None = None

    async def fetch(self, connection: AsyncConnection, keys: Sequence[Sequence[Any]], **values: Any) -> list[Any]:
        """The rows for `keys` (each key once, however often it is listed), with `values` for
        `build`'s own parameters."""
        if not keys:
            return []
        if connection.dialect.name == "postgresql":
            return list((await connection.execute(*self.array_run(keys, **values))).all())
        found: list[Any] = []
        for statement, parameters in self.runs(keys, **values):
            found.extend((await connection.execute(statement, parameters)).all())
        return found

    def array_run(self, keys: Sequence[Sequence[Any]], **values: Any) -> tuple[Executable, dict[str, Any]]:
        """PostgreSQL's (statement, parameters): the distinct keys as an array per column (a key listed
        twice would join its rows twice)."""
        distinct = list(dict.fromkeys(tuple(key) for key in keys))
        for key in distinct:
            self._check(key)
        if self._array_statement is None:
            wanted = (
                func.unnest(
                    *(
                        bindparam(f"keys_{c}", type_=postgresql.ARRAY(_unbounded(column.type)))
                        for c, column in enumerate(self.columns)
                    )
                )
                .table_valued(*(f"key_{c}" for c in range(len(self.columns))))
                .render_derived(name="wanted")
            )
            self._array_statement = self._build(
                and_(*(column == wanted.c[f"key_{c}"] for c, column in enumerate(self.columns)))
            )
        parameters = dict(values)
        for c in range(len(self.columns)):
            parameters[f"keys_{c}"] = [key[c] for key in distinct]
        return self._array_statement, parameters

    def _check(self, key: Sequence[Any]) -> None:
        if len(key) != len(self.columns):
            raise ValueError(f"key {key!r} has {len(key)} values for {len(self.columns)} columns")

    def statement(self, size: int) -> Executable:
        """The statement naming `size` keys (a power of two up to KEYS_PER_QUERY)."""
        statement = self._statements.get(size)
        if statement is None:
            clause = or_(
                *(
                    and_(*(column == bindparam(f"key_{n}_{c}") for c, column in enumerate(self.columns)))
                    for n in range(size)
                )
            )
            statement = self._statements[size] = self._build(clause)
        return statement

    def runs(self, keys: Sequence[Sequence[Any]], **values: Any) -> Iterator[tuple[Executable, dict[str, Any]]]:
        """SQLite's (statement, parameters) per chunk of `keys`, with `values` for `build`'s own parameters."""
        for chunk in key_chunks(keys):
            size = 1 << (len(chunk) - 1).bit_length()
            parameters = dict(values)
            for n, key in enumerate([*chunk, *[chunk[-1]] * (size - len(chunk))]):
                self._check(key)
                parameters.update((f"key_{n}_{c}", value) for c, value in enumerate(key))
            yield self.statement(size), parameters


def _unbounded(type_: Any) -> Any:
    """A key column's type for its array, without a length: a cast to VARCHAR(2)[] would cut a longer
    value down to one that matches."""
    base = type_.impl_instance if isinstance(type_, TypeDecorator) else type_  # SQLModel's AutoString
    return String() if isinstance(base, String) else type_


def key_chunks(keys: Sequence[T]) -> Iterator[Sequence[T]]:
    """`keys` in chunks of at most KEYS_PER_QUERY."""
    for start in range(0, len(keys), KEYS_PER_QUERY):
        yield keys[start : start + KEYS_PER_QUERY]
