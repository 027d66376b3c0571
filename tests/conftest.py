from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def load_vectors() -> list[dict]:
    return [json.loads(line) for line in (DATA / "oms_examples.jsonl").read_text().splitlines() if line.strip()]


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing, unless CI asked for it to be a failure (MeterdRequireServices=1)."""
    if os.environ.get("METERD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required in CI but unavailable: {reason}")
    pytest.skip(f"{name} unavailable: {reason}")


DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url():  # type: ignore[no-untyped-def]
    """A URL to a fresh schema on the PostgreSQL server of DATABASE_URL, dropped afterwards."""
    import uuid

    import psycopg

    url = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        require_service("PostgreSQL", str(e).strip())
    schema = f"meterd_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_args(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Command-line store options for a new store on SQLite (in tmp_path) or on PostgreSQL."""
    if request.param == "sqlite":
        return ["--data", str(tmp_path / "store")]
    return ["--db", request.getfixturevalue("pg_url")]


@pytest.fixture(params=["sqlite", "postgresql"])
def demo_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The demo store (`meterd demo`'s data) on SQLite or on a fresh PostgreSQL schema."""
    from meterd.store import Store
    from meterd.store.demo import create_demo

    if request.param == "sqlite":
        store = Store.open(tmp_path / "store", create=True)
    else:
        store = Store.open(db=request.getfixturevalue("pg_url"), create=True, kek_path=tmp_path / "kek")
    with store.begin() as conn:
        create_demo(conn, store, tmp_path, ROOT / "config" / "sample-keys.csv")
    yield store
    store.close()
