"""Opening the store: a SQLite file in the data directory by default, or any SQLAlchemy URL.

Every way a store can fail to open (a bad URL, a server that does not answer, a file that is not a
store, a schema older or newer than this meterd) is a `StoreError` with one line of text."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from meterd.errors import MeterdError
from meterd.fileio import private_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
DB_FILE = "meterd.sqlite"
SQLITE_TIMEOUT_S = 30


class StoreError(MeterdError):
    code = "store_error"


class SchemaMismatch(StoreError):
    code = "schema_mismatch"


class StoreUnavailable(StoreError):
    code = "store_unavailable"


def default_data_dir() -> Path:
    return Path(os.environ.get("METERD_DATA", "data"))


def data_dir(data: str | os.PathLike[str] | None) -> Path:
    directory = Path(data) if data else default_data_dir()
    if directory.exists() and not directory.is_dir():
        raise StoreError(f"--data {directory} is a file; name the folder that holds {DB_FILE}")
    return directory


def store_url(data: str | os.PathLike[str] | None = None, db: str | None = None, *, create_dir: bool = True) -> str:
    """--db URL wins; else the SQLite file in --data DIR (or $METERD_DATA, or ./data)."""
    if db:
        return _checked_url(db)
    directory = data_dir(data)
    if create_dir:
        private_dir(directory)
    return f"sqlite:///{(directory / DB_FILE).resolve()}"


def _checked_url(db: str) -> str:
    if db.startswith("postgresql://") or db.startswith("postgres://"):
        db = "postgresql+psycopg://" + db.split("://", 1)[1]
    try:
        url = make_url(db)
    except ArgumentError:
        raise StoreError(f"--db {redact(db)!r} is not a database URL (e.g. postgresql://host/db)") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"--db: unsupported database {url.get_backend_name()!r} (sqlite or postgresql)")
    return db


def redact(url: str) -> str:
    """A URL as it may be printed: the password replaced."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<url>"


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    except (ArgumentError, NoSuchModuleError) as e:
        raise StoreError(f"cannot use database URL {redact(url)}: {e}") from None


def _sqlite_engine(url: str) -> Engine:
    path = _sqlite_path(url)
    read_only = False
    if path is not None:
        if not path.exists():
            try:  # created by its owner for its owner: the store holds sealed keys and personal data
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError as e:
                raise StoreError(f"cannot create store {path}: {e.strerror}") from None
        else:
            read_only = not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)
    if read_only:  # read-only commands still work: no journal, no locks (nothing can write it anyway)
        return create_engine("sqlite://", creator=lambda: _connect_read_only(path))
    engine = create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # checkpoint the WAL every ~40 MB instead of every 4 MB: a page that many batches change (an
        # index leaf) is written back once, not once a batch (+15 % on the gateway's sustained rate)
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    return engine


def _connect_read_only(path: Path | None) -> Any:
    import sqlite3

    return sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """The schema revisions this meterd knows, oldest first. A migration's file name starts with its
    revision ("0007_portal_accounts.py" is revision 0007, following 0006): opening a store checks its
    revision without loading alembic and every migration (a second of start-up for each command).
    The folder is read once per process (the migrations are part of the installed package)."""
    names = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return tuple(n[:4] for n in names)


def head_revision() -> str:
    return known_revisions()[-1]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def foreign_tables(engine: Engine) -> list[str]:
    """Tables of a database that is not (yet) a meterd store."""
    return sorted(inspect(engine).get_table_names())


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after)."""
    before = current_revision(engine)
    _refuse_unknown(before)
    if before is None:
        others = foreign_tables(engine)
        if others:
            raise StoreError(
                f"{redact(str(engine.url))} is not a meterd store (it holds {', '.join(others[:5])}); "
                "choose an empty database or folder"
            )
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


def _refuse_unknown(current: str | None) -> None:
    if current is not None and current not in known_revisions():
        raise SchemaMismatch(f"store schema {current} is newer than this meterd ({head_revision()}); upgrade meterd")


def check_schema(engine: Engine) -> None:
    """Refuse to work on a schema this version does not know (older, newer or missing)."""
    current, head = current_revision(engine), head_revision()
    _refuse_unknown(current)
    if current != head:
        if current is None and foreign_tables(engine):
            raise SchemaMismatch(f"{redact(str(engine.url))} is not a meterd store")
        where = "an empty database" if current is None else f"schema revision {current}"
        raise SchemaMismatch(f"store has {where}, this meterd needs {head}: run 'meterd db upgrade'")


def describe(error: SQLAlchemyError) -> str:
    """One line for a database error: the driver's first line, never the statement or its parameters."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if "readonly database" in first or "read-only" in first:
        return "the store is read-only (this command writes to it)"
    if "disk is full" in first or "No space left" in first:
        return "the disk holding the store is full; nothing was changed"
    if "database is locked" in first:
        return f"the store is locked by another process (waited {SQLITE_TIMEOUT_S} s); try again"
    if "file is not a database" in first:
        return "the store file is not a SQLite database"
    return first
