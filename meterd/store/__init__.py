"""The store: premises, meters, keys, assignments, readings, anomalies (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike

from sqlalchemy import Connection, Engine

from meterd.store.engine import check_schema, make_engine, store_url, upgrade


class Store:
    """An opened store; use `begin()` for a transaction. Opening checks the schema unless told not to."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(
        cls, data: str | PathLike[str] | None = None, db: str | None = None, *, check: bool = True, create: bool = False
    ) -> Store:
        store = cls(make_engine(store_url(data, db)))
        if create:
            store.upgrade()
        elif check:
            check_schema(store.engine)
        return store

    def upgrade(self) -> tuple[str | None, str]:
        return upgrade(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)})"
