"""Reading a directory file: a YAML document or a CSV of officials → the document import_directory takes."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import yaml

from routing.errors import BadImport

CSV_LIST_SPLIT = re.compile(r"[;|]")


def parse_import(content: bytes, *, filename: str | None = None, fmt: str | None = None) -> dict[str, Any]:
    """A YAML document (departments/officials/rules/sla_policies lists) or a CSV of officials."""
    fmt = (fmt or (filename or "").rsplit(".", 1)[-1]).lower()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadImport("the file is not UTF-8") from exc
    if fmt in ("yaml", "yml"):
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BadImport(f"not YAML: {exc}") from exc
        if not isinstance(document, dict):
            raise BadImport("a directory YAML is a mapping with departments/officials/rules/sla_policies lists")
        return document
    if fmt == "csv":
        return _csv_document(text)
    raise BadImport(f"unknown format {fmt!r}: use .yaml, .yml or .csv")


def _csv_document(text: str) -> dict[str, Any]:
    """One official per row; departments are created from department_id/department_name columns."""
    reader = csv.DictReader(io.StringIO(text))
    required = {"region_code", "official_id", "name"}
    if reader.fieldnames is None or not required <= set(reader.fieldnames):
        raise BadImport(f"CSV needs the columns {sorted(required)}; got {reader.fieldnames}")
    departments: dict[str, dict[str, Any]] = {}
    officials: list[dict[str, Any]] = []
    for row in reader:
        row = {k: (v or "").strip() for k, v in row.items() if k}
        region = row["region_code"].zfill(2)
        if row.get("department_id"):
            departments.setdefault(
                row["department_id"],
                {
                    "id": row["department_id"],
                    "region_code": region,
                    "name": row.get("department_name") or row["department_id"],
                    "kind": row.get("department_kind") or "ministry",
                    "municipality": row.get("department_municipality") or None,
                },
            )
        official: dict[str, Any] = {
            "id": row["official_id"],
            "region_code": region,
            "department_id": row.get("department_id") or None,
            "name": row["name"],
        }
        for key in ("position", "email", "phone", "role", "timezone", "work_hours"):
            if row.get(key):
                official[key] = row[key]
        for key in ("categories", "municipalities"):
            if row.get(key):
                official[key] = [p.strip() for p in CSV_LIST_SPLIT.split(row[key]) if p.strip()]
        if row.get("capacity"):
            official["capacity"] = row["capacity"]
        if row.get("active"):
            official["active"] = row["active"].lower() in ("1", "true", "yes", "да")
        if row.get("on_leave"):
            official["on_leave"] = row["on_leave"].lower() in ("1", "true", "yes", "да")
        officials.append(official)
    return {"departments": list(departments.values()), "officials": officials}
