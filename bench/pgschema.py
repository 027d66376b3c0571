"""A PostgreSQL schema of a benchmark's own on the server of $DATABASE_URL, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test").replace(
    "postgresql+psycopg://", "postgresql://"
)


@contextmanager
def bench_schema() -> Iterator[tuple[str, str, Any]]:
    """(a URL whose search_path is a new schema, the schema's name, an autocommit admin connection)."""
    import psycopg

    schema = f"meterd_bench_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in DATABASE_URL else "?"
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{DATABASE_URL}{sep}options=-csearch_path%3D{schema}", schema, admin
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
