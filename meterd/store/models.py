"""Tables of the store (SQLAlchemy 2). Times are int64 seconds since the epoch, UTC (`*_at`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false, text

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(200), default="")


class Premises(Base):
    """A flat (lokal) as the housing register knows it."""

    __tablename__ = "premises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    address: Mapped[str] = mapped_column(String(200), default="")


class Meter(Base):
    """A meter is its manufacturer and serial (the wM-Bus M field and ID): serials are unique per maker
    only. A register that did not name the maker leaves `manufacturer` empty: such a meter is the one of
    its serial whoever made it, as long as no other meter has that serial."""

    __tablename__ = "meters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(32))  # the meter ID as telegrams carry it
    manufacturer: Mapped[str] = mapped_column(String(8), default="")  # three letters, upper case, or ""
    medium: Mapped[str] = mapped_column(String(32), default="water")
    driver: Mapped[str] = mapped_column(String(32), default="auto")
    kind: Mapped[str] = mapped_column(String(16), default="radio")  # radio, wired, prepaid
    q3_m3h: Mapped[float] = mapped_column(Float, default=2.5)
    schedule: Mapped[str] = mapped_column(String(64), default="")
    __table_args__ = (UniqueConstraint("serial", "manufacturer", name="uq_meters_identity"),)


class MeterKey(Base):
    """AES keys with history; the key bytes never leave the store except to the decoder."""

    __tablename__ = "meter_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    key: Mapped[bytes] = mapped_column(LargeBinary)  # sealed under the KEK (meterd.store.sealing)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), nullable=True)

    def __repr__(self) -> str:
        return f"MeterKey(meter_id={self.meter_id}, valid_from={self.valid_from}, key=<secret>)"


class Assignment(Base):
    """Which meter hung in which flat, when: [valid_from, valid_to)."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (
        Index("ix_assignments_meter", "meter_id", "valid_from"),
        Index("ix_assignments_premises", "premises_id", "valid_from"),
    )


class ImportBatch(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer, default=0)


class Telegram(Base):
    """Raw telegrams kept for a while, so a reading can be decoded again; each stored once (`digest`,
    the SHA-256 of `raw`), however often it was heard: `received_at` and `gateway` are of its first hearing."""

    __tablename__ = "telegrams"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[int] = mapped_column(BigInteger, index=True)
    gateway: Mapped[str] = mapped_column(String(64), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (Index("ix_telegrams_digest", "digest", unique=True),)


class Reading(Base):
    """The natural key (meter, measured_at) is the primary key: the same reading is stored once.

    meter_id has no foreign key constraint on purpose: a per-row check halves bulk ingest speed on
    PostgreSQL, the ingest resolves meter ids itself, and meters are never deleted."""

    __tablename__ = "readings"
    meter_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    measured_at: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[int] = mapped_column(BigInteger)
    total_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    registers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the other registers
    rssi_dbm: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="radio")  # radio, walkby, wired, manual, estimate
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alarms: Mapped[int] = mapped_column(Integer, default=0)  # bit mask, meterd.validate.model.ALARM_BITS
    # the key of the reading's id (meterd.reading.Reading.key), stored once; see ReadingIn in
    # meterd.store.ingest for the two grids of cells that keep it unique
    reading_key: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dedup_cell: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dedup_cell_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (
        PrimaryKeyConstraint("meter_id", "measured_at", name="pk_readings"),
        Index("ux_readings_key_cell", "reading_key", "dedup_cell", unique=True,
              sqlite_where=text("reading_key IS NOT NULL"), postgresql_where=text("reading_key IS NOT NULL")),
        Index("ux_readings_key_cell_offset", "reading_key", "dedup_cell_offset", unique=True,
              sqlite_where=text("reading_key IS NOT NULL"), postgresql_where=text("reading_key IS NOT NULL")),
    )


class UnknownReading(Base):
    """A reading of a meter not in the register, kept as it came (its JSON) until the register names
    the meter (`meterd report --unknown` lists them)."""

    __tablename__ = "unknown_readings"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(32))
    manufacturer: Mapped[str] = mapped_column(String(8), default="", server_default="")
    gateway: Mapped[str] = mapped_column(String(64), default="", server_default="")
    received_at: Mapped[int] = mapped_column(BigInteger)
    reading: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_unknown_readings_serial", "serial", "received_at"),)


class Hearing(Base):
    """What one gateway (or walk, `kind`) heard of one meter on one UTC day: telegrams that decoded into
    readings, duplicates included, their median RSSI and the last time. Kept whoever delivered the
    reading first; a gateway sends its day's running totals again and again, the largest count wins."""

    __tablename__ = "hearings"
    serial: Mapped[str] = mapped_column(String(32))
    manufacturer: Mapped[str] = mapped_column(String(8))
    gateway: Mapped[str] = mapped_column(String(64))
    day: Mapped[int] = mapped_column(Integer)  # days since 1970-01-01, UTC
    kind: Mapped[str] = mapped_column(String(8), default="gateway", server_default="gateway")  # gateway, walk
    telegrams: Mapped[int] = mapped_column(Integer)
    rssi_median_dbm: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (
        PrimaryKeyConstraint("serial", "manufacturer", "gateway", "day", name="pk_hearings"),
        Index("ix_hearings_day", "day"),
    )


class GatewaySeq(Base):
    """What the central store has of a gateway's readings: every seq up to `committed` (contiguous)."""

    __tablename__ = "gateway_seqs"
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    committed: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class GatewaySeqRange(Base):
    """Seqs of a gateway committed above its contiguous `committed` (batches that overtook another)."""

    __tablename__ = "gateway_seq_ranges"
    gateway: Mapped[str] = mapped_column(String(64))
    lo: Mapped[int] = mapped_column(BigInteger)
    hi: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (PrimaryKeyConstraint("gateway", "lo", name="pk_gateway_seq_ranges"),)


class Rejected(Base):
    """A reading (with its seq) or a whole message (seq None) the central side refused, and why; with
    `kept`, a reading stored all the same but noted (a meter of a building its gateway does not
    usually hear). `meterd report --rejected` lists them."""

    __tablename__ = "rejected"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    gateway: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    kept: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (Index("ix_rejected_at", "at"),)


class ReadingConflict(Base):
    """A reading whose key (meter, measured-at) was stored before with another total or other alarms:
    the first stays, this one waits for review."""

    __tablename__ = "reading_conflicts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    meter_id: Mapped[int] = mapped_column(Integer)
    measured_at: Mapped[int] = mapped_column(BigInteger)
    found_at: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[int] = mapped_column(BigInteger)
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    total_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    alarms: Mapped[int] = mapped_column(Integer)
    stored_total_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    stored_alarms: Mapped[int] = mapped_column(Integer)
    stored_gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    review: Mapped[str | None] = mapped_column(String(16), nullable=True)
    __table_args__ = (
        Index("ux_reading_conflicts_digest", "digest", unique=True),
        Index("ix_reading_conflicts_meter", "meter_id", "measured_at"),
    )


class LoginFailure(Base):
    """A failed login (or a login-link request), by key: `login:NAME`, `addr:ADDRESS`, `pair:...`."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_login_failures_key", "key", "at"), Index("ix_login_failures_at", "at"))


class QueuedMail(Base):
    """Mail to send out of band (a login link asked for by address): retried until done or given up."""

    __tablename__ = "mail_queue"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[int] = mapped_column(BigInteger)
    next_at: Mapped[int] = mapped_column(BigInteger)
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str] = mapped_column(String(300), default="", server_default="")
    __table_args__ = (Index("ix_mail_queue_due", "done_at", "next_at"),)


class TopUp(Base):
    """Credit sold for a prepaid meter; the token is the vending system's (a token is sold once)."""

    __tablename__ = "topups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="PLN", server_default="PLN")
    sold_at: Mapped[int] = mapped_column(BigInteger)
    sold_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    token: Mapped[str] = mapped_column(String(20))
    vendor_ref: Mapped[str] = mapped_column(String(64), default="", server_default="")
    __table_args__ = (
        UniqueConstraint("meter_id", "token", name="uq_topups_meter_token"),
        Index("ix_topups_meter", "meter_id", "sold_at"),
    )


class Route(Base):
    """A walk-by route as billing handed it over (`meterd route import`)."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(300), default="", server_default="")
    csv_dialect: Mapped[str] = mapped_column(String(8), default="plain", server_default="plain")  # of its import
    csv_encoding: Mapped[str] = mapped_column(String(32), default="utf-8", server_default="utf-8")
    # the earliest receive time a walk of this route heard one of its meters (a replayed capture may be
    # older than the route's import): the route's export counts readings from there
    heard_from: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RouteStop(Base):
    __tablename__ = "route_stops"
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"))
    ord: Mapped[int] = mapped_column(Integer)
    premises: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    meter: Mapped[str] = mapped_column(String(32))
    medium: Mapped[str] = mapped_column(String(32), default="water", server_default="water")
    previous_reading: Mapped[float | None] = mapped_column(Float, nullable=True)
    previous_date: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (PrimaryKeyConstraint("route_id", "ord", name="pk_route_stops"),)


class TenantReading(Base):
    """A reading a tenant reported (a meter no receiver reads, or one disputed): `pending` until staff
    accept it (it is then stored as a reading of source `tenant`) or reject it, with a comment. The photo
    of the dial, if any, stays here: shown only to staff and the tenant's own account."""

    __tablename__ = "tenant_readings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    total_m3: Mapped[float] = mapped_column(Float)
    measured_at: Mapped[int] = mapped_column(BigInteger)
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    photo_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    review_comment: Mapped[str | None] = mapped_column(String(300), nullable=True)
    __table_args__ = (
        Index("ix_tenant_readings_status", "status", "submitted_at"),
        Index("ix_tenant_readings_premises", "premises_id", "submitted_at"),
    )

    def __repr__(self) -> str:
        return f"TenantReading(id={self.id}, meter_id={self.meter_id}, status={self.status!r})"


class Anomaly(Base):
    __tablename__ = "anomalies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    flag: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[int] = mapped_column(BigInteger)
    end_at: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300))
    reason_pl: Mapped[str | None] = mapped_column(String(300), nullable=True)  # the same in Polish, for Polish pages
    created_at: Mapped[int] = mapped_column(BigInteger)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    review: Mapped[str | None] = mapped_column(String(16), nullable=True)  # confirmed, rejected (by staff)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    review_comment: Mapped[str | None] = mapped_column(String(300), nullable=True)
    __table_args__ = (UniqueConstraint("meter_id", "flag", "start_at", name="uq_anomalies_meter_flag_start"),)


class Account(Base):
    """A portal login: a tenant sees only the premises its tenancies name, each for its period.
    (Stores made before tenancies keep an unused column premises_id.)"""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="tenant")  # tenant, staff
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    lang: Mapped[str] = mapped_column(String(2), default="pl", server_default="pl")
    consent_notices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # when given or withdrawn last
    created_at: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"Account(login={self.login!r}, role={self.role!r})"


class Tenancy(Base):
    """An account's right to see one premises over [valid_from, valid_to): a tenancy that ended keeps
    access to its own period only."""

    __tablename__ = "tenancies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    __table_args__ = (Index("ix_tenancies_account", "account_id", "valid_from"),)


class LoginLink(Base):
    """A one-time login link sent by e-mail: only the SHA-256 of its token is kept."""

    __tablename__ = "login_links"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditEntry(Base):
    """Who looked at or changed a tenant's data: staff access, reviews, consent given or withdrawn."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    premises: Mapped[str] = mapped_column(String(64), default="", server_default="")
    meter: Mapped[str] = mapped_column(String(32), default="", server_default="")
    detail: Mapped[str] = mapped_column(String(300), default="", server_default="")
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    __table_args__ = (Index("ix_audit_log_at", "at"),)


class NoticeSent(Base):
    """A notice e-mailed to an account, at most once per notice and (local) day."""

    __tablename__ = "notices_sent"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    notice: Mapped[str] = mapped_column(String(120))
    day: Mapped[int] = mapped_column(Integer)  # days since the epoch, Europe/Warsaw
    sent_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (PrimaryKeyConstraint("account_id", "notice", "day", name="pk_notices_sent"),)


class PortalSession(Base):
    """A portal login's session: only the SHA-256 of its token is kept."""

    __tablename__ = "sessions"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class State(Base):
    """Small persistent state of the pipeline (learned compact-frame formats, mode 7 counters)."""

    __tablename__ = "state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
