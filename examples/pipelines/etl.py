"""CSV ETL: read orders, validate each row, write the clean rows and an error report.

headwater run -C examples orders_etl
headwater run -C examples orders_etl -p min_amount=50
"""

from __future__ import annotations

import csv
import logging
from datetime import date
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from headwater import current_context, pipeline, task

log = logging.getLogger(__name__)


class Currency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class RowError(BaseModel):
    line: int
    field: str
    message: str


class Checked(BaseModel):
    valid: list[dict[str, str]]
    errors: list[RowError]


class Written(BaseModel):
    rows: int
    path: str


@task(retries=2)
def extract(source: str) -> list[dict[str, str]]:
    """Read the CSV file at `source` (relative to the project folder) as rows."""
    with Path(source).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    log.info("read %d rows from %s", len(rows), source)
    return rows


@task(version=2)
def validate(
    rows: list[dict[str, str]],
    min_amount: float = 0.0,
    currencies: list[Currency] = [Currency.EUR, Currency.USD, Currency.GBP],  # noqa: B006
) -> Checked:
    """Keep rows with an id, an ISO date, a known currency and an amount >= min_amount."""
    valid, errors = [], []
    allowed = {c.value for c in currencies}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        problems = _row_problems(row, min_amount, allowed)
        errors += [RowError(line=line, field=f, message=m) for f, m in problems]
        if not problems:
            valid.append(row)
    print(f"{len(valid)} valid rows, {len(errors)} errors")
    return Checked(valid=valid, errors=errors)


def _row_problems(
    row: dict[str, str], min_amount: float, allowed: set[str]
) -> list[tuple[str, str]]:
    problems = []
    if not row.get("order_id", "").strip():
        problems.append(("order_id", "missing"))
    try:
        date.fromisoformat(row.get("date", ""))
    except ValueError:
        problems.append(("date", f"not a date: {row.get('date')!r}"))
    if row.get("currency") not in allowed:
        problems.append(("currency", f"unknown currency {row.get('currency')!r}"))
    try:
        if float(row.get("amount", "")) < min_amount:
            problems.append(("amount", f"below {min_amount:g}"))
    except ValueError:
        problems.append(("amount", f"not a number: {row.get('amount')!r}"))
    return problems


@task
def write_clean(checked: Checked) -> Written:
    """Write the valid rows to clean.csv, kept with this task's output."""
    ctx = current_context()
    path = ctx.output_dir / "clean.csv"
    _write_csv(path, checked.valid)
    return Written(rows=len(checked.valid), path=ctx.artifact_uri("clean.csv"))


@task
def write_error_report(checked: Checked) -> Written:
    """Write one line per problem to errors.csv, kept with this task's output."""
    ctx = current_context()
    _write_csv(ctx.output_dir / "errors.csv", [e.model_dump() for e in checked.errors])
    return Written(rows=len(checked.errors), path=ctx.artifact_uri("errors.csv"))


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    fields = list(rows[0]) if rows else []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


@pipeline
def orders_etl(source: str = "data/orders.csv", min_amount: float = 0.0):
    """Clean an orders CSV: valid rows to clean.csv, problems to errors.csv."""
    rows = extract(source)
    checked = validate(rows, min_amount=min_amount)
    return {"clean": write_clean(checked), "errors": write_error_report(checked)}
