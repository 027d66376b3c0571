"""The store: premises, meters, keys, assignments, readings, anomalies (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from meterd.store.engine import (
    StoreUnavailable,
    check_schema,
    data_dir,
    describe,
    make_engine,
    redact,
    store_url,
    upgrade,
)
from meterd.store.sealing import Kek, kek_location


class Store:
    """An opened store; use `begin()` for a transaction. Opening checks the schema unless told not to.

    `kek_path` is where the key-encryption key of its meter keys is found (see meterd.store.sealing)."""

    def __init__(self, engine: Engine, kek_path: Path) -> None:
        self.engine = engine
        self.kek_path = kek_path
        self._kek: Kek | None = None

    @classmethod
    def open(
        cls,
        data: str | PathLike[str] | None = None,
        db: str | None = None,
        *,
        check: bool = True,
        create: bool = False,
        kek_path: Path | None = None,
    ) -> Store:
        """`kek_path` overrides where the key-encryption key is looked for (see meterd.store.sealing)."""
        url = store_url(data, db)
        store = cls(make_engine(url), kek_path or kek_location(data_dir(data)))
        try:
            if create:
                store.upgrade()
            elif check:
                check_schema(store.engine)
        except OperationalError as e:
            store.close()
            raise StoreUnavailable(f"cannot open store {redact(url)}: {describe(e)}") from None
        return store

    def upgrade(self) -> tuple[str | None, str]:
        before, after = upgrade(self.engine)
        from meterd.store.keys import seal_plain_keys

        with self.begin() as conn:
            seal_plain_keys(conn, self)
        return before, after

    def kek(self, *, create: bool = False) -> Kek:
        """The key-encryption key; `create` makes one where none exists yet (the store has no sealed keys)."""
        if self._kek is None:
            if create and not self.kek_path.exists():
                self._kek = Kek.generate(self.kek_path)
            else:
                self._kek = Kek.load(self.kek_path)
        return self._kek

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)})"
