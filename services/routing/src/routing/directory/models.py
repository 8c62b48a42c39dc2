"""Directory tables: departments and officials per region (incl. the curator and the escalation chain)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Table, event
from sqlmodel import Field, SQLModel

from incidents_common.db import UTCDateTime, utcnow
from routing.tables import table_of


class Role(StrEnum):
    """An official's place in the region: a line official, or a level of the escalation chain."""

    official = "official"
    curator = "curator"  # the governor's assistant for internet communications (level 1)
    deputy_governor = "deputy_governor"  # level 2
    governor_office = "governor_office"  # level 3


ESCALATION_CHAIN: tuple[Role, ...] = (Role.curator, Role.deputy_governor, Role.governor_office)


class Department(SQLModel, table=True):
    __tablename__ = "routing_departments"

    id: str = Field(primary_key=True, max_length=100)
    region_code: str = Field(max_length=2, index=True)
    name: str = Field(max_length=500)
    kind: str = Field(default="ministry", max_length=50)
    municipality: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Official(SQLModel, table=True):
    __tablename__ = "routing_officials"

    id: str = Field(primary_key=True, max_length=100)
    region_code: str = Field(max_length=2, index=True)
    department_id: str | None = Field(default=None, max_length=100, index=True)
    name: str = Field(max_length=300)
    position: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    role: Role = Field(default=Role.official, max_length=30)
    # Empty lists mean "all categories" / "the whole region".
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    municipalities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    work_start: str = Field(default="09:00", max_length=5)
    work_end: str = Field(default="18:00", max_length=5)
    # ISO weekdays, 1 = Monday.
    work_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], sa_column=Column(JSON, nullable=False))
    timezone: str | None = Field(default=None, max_length=64)
    capacity: int = 50
    active: bool = True
    on_leave: bool = False
    # Tie-breaker for round-robin among equally loaded officials.
    assignments_total: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def on_duty(self) -> bool:
        return self.active and not self.on_leave


def json_list(value: Any) -> list[Any]:
    return list(value or [])


# -- the directory's version -----------------------------------------------------------------
# A number the database itself moves on every change of what assignment reads (departments,
# officials, rules, SLA policies), so that a routing replica may keep what it loaded
# (incidents.loading.DirectoryCache). Triggers move it, not the code that writes: an API call, an
# import, the demo seed, a hand-made UPDATE and another replica's write all count alike. An
# official's round-robin counter, which every batch that assigns updates, is the one column left
# out; the batches read it afresh (rules.service.load_workload). routing.models sets the triggers
# on the tables (for create_all); the migration 0009 on an upgraded database.

VERSION_TABLE = "routing_directory_version"
VERSION_FUNCTION = "routing_directory_changed"
NOT_DIRECTORY = {"routing_officials": frozenset({"assignments_total"})}
FIRST_ROW = f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"  # noqa: S608 - constant names
BUMP = f"UPDATE {VERSION_TABLE} SET version = version + 1 WHERE id = 1"  # noqa: S608 - constant names


class DirectoryVersion(SQLModel, table=True):
    """One row (id 1): the directory's version, moved by the triggers of `trigger_statements`."""

    __tablename__ = VERSION_TABLE

    id: int = Field(primary_key=True)
    version: int = 0


def watched_columns(table: Table) -> list[str]:
    """The columns of a directory table whose change moves the version."""
    ignored = NOT_DIRECTORY.get(table.name, frozenset())
    return [column.name for column in table.columns if column.name not in ignored]


def trigger_statements(dialect: str, table_name: str, columns: list[str]) -> list[str]:
    """The statements that make changes of `table_name` (of `columns`, for an UPDATE) move the version.
    Idempotent: a database that create_all completed may meet them again in its migration."""
    update_of = ", ".join(columns)
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {VERSION_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$",
            f"DROP TRIGGER IF EXISTS {table_name}_changed ON {table_name}",
            # Once per statement: an import of a thousand officials moves it once.
            f"CREATE TRIGGER {table_name}_changed AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF {update_of} "
            f"ON {table_name} FOR EACH STATEMENT EXECUTE FUNCTION {VERSION_FUNCTION}()",
        ]
    # SQLite has row triggers only; the directory changes by hand, a few rows at a time.
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table_name}_{name} AFTER {action} ON {table_name} BEGIN {BUMP}; END"
        for name, action in (("inserted", "INSERT"), ("deleted", "DELETE"), ("updated", f"UPDATE OF {update_of}"))
    ]


def create_version_triggers(table: Table, connection: Any, **_: Any) -> None:
    """An `after_create` listener of a directory table: its triggers."""
    for statement in trigger_statements(connection.dialect.name, table.name, watched_columns(table)):
        connection.exec_driver_sql(statement)


def _first_row(_table: Table, connection: Any, **_: Any) -> None:
    connection.exec_driver_sql(FIRST_ROW)


event.listen(table_of(DirectoryVersion), "after_create", _first_row)
