"""Demo data: two buildings, ten flats, their meters and keys, a tenant and a staff account and four months of
hourly readings with a leak, a meter swap and a meter that fell silent (`meterd demo`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection

from meterd.coverage.hearing import DAY_S, Hearing, HearingKind
from meterd.store.accounts import add_account, grant
from meterd.store.hearings import put_hearings
from meterd.store.imports import import_keys, import_premises
from meterd.store.ingest import insert_rows, meter_ids

if TYPE_CHECKING:
    from meterd.store import Store

START = int(datetime(2026, 7, 27, tzinfo=UTC).timestamp())
END = int(datetime(2026, 11, 26, 8, tzinfo=UTC).timestamp())
SWAP_AT = int(datetime(2026, 9, 15, 10, tzinfo=UTC).timestamp())
LEAK_FROM = int(datetime(2026, 10, 20, tzinfo=UTC).timestamp())
SILENT_FROM = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
TENANT_LOGIN = "lokator.d2"
TENANT_PASSWORD = "demo-haslo-2"  # demo only; real accounts get their own
STAFF_LOGIN = "obsluga"
STAFF_PASSWORD = "demo-obsluga-1"  # demo only

FLATS = [
    # premises, address, cold meter, warm meter
    ("D1", "ul. Długa 5/1", "31000001", "32000001"),
    ("D2", "ul. Długa 5/2", "31000002", "32000002"),
    ("D3", "ul. Długa 5/3", "31000003", "32000003"),
    ("D4", "ul. Długa 5/4", "31000004", "32000004"),
    ("D5", "ul. Długa 5/5", "31000005", "32000005"),
    ("D6", "ul. Długa 5/6", "31000006", "32000006"),
    ("K1", "ul. Krótka 1/1", "41000001", "41000003"),
    ("K2", "ul. Krótka 1/2", "41000002", "41000004"),
    ("K3", "ul. Krótka 1/3", "41000005", ""),
    ("K4", "ul. Krótka 1/4", "41000006", ""),
]
SWAPPED_OLD, SWAPPED_NEW = "31000002", "31000099"  # D2's cold water meter, replaced on SWAP_AT
LEAKING = "31000003"  # D3: a dripping toilet cistern
SILENT = "32000005"  # D5: warm water meter stopped sending
# registers of the meters in config/sample-capture.hex when it was taken (see scripts/make_sample_capture.py):
# the demo history of those meters ends just below them
MAKERS = {"41000003": "DME", "41000004": "DME", "41000005": "ZRI", "41000006": "ZRI"}  # as the capture's telegrams say
CAPTURED = {f"4100000{i + 1}": (100_000 + i * 12_345) / 1000 for i in range(6)}


@dataclass
class DemoResult:
    readings: int
    login: str
    password: str


def _register_csv(directory: Path) -> Path:
    lines = ["premises_id,address,meter_id,manufacturer,medium,installed,q3_m3h"]
    for code, address, cold, warm in FLATS:
        lines.append(f"{code},{address},{cold},{MAKERS.get(cold, 'APA')},water,2026-01-01,2.5")
        if warm:
            lines.append(f"{code},{address},{warm},{MAKERS.get(warm, 'APA')},warm_water,2026-01-01,2.5")
    path = directory / "demo-register.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _keys_csv(directory: Path, sample_keys: Path | None) -> Path | None:
    if sample_keys is None or not sample_keys.exists():
        return None
    path = directory / "demo-keys.csv"
    path.write_bytes(sample_keys.read_bytes())
    path.chmod(0o600)
    return path


def _usage(rng: np.random.Generator, hours: np.ndarray, warm: bool) -> np.ndarray:
    """Litres → m3 per hour for a flat: mornings and evenings, nothing at night."""
    hod = (hours // 3600 + 2) % 24  # local time, roughly
    busy = ((hod >= 6) & (hod < 9)) | ((hod >= 17) & (hod < 23))
    base = rng.choice(np.array([0.0, 0.0, 0.004, 0.012, 0.03]), size=hours.size)
    return np.where(busy, base * (0.6 if warm else 1.0), 0.0)


def _hearings(rng: np.random.Generator, serials: list[str], hearings_of: list[tuple[int, str]]) -> list[Hearing]:
    """The last 30 demo days as two gateways heard them: gw-dluga hears Długa's meters well, gw-krotka
    Krótka's, and the nearer half of Długa's weakly too (so some meters have a second gateway, some
    only one); the silent meter is heard by nobody once it stopped."""
    out = []
    first_day = END // DAY_S - 30
    for _, serial in hearings_of:
        maker = MAKERS.get(serial, "APA")
        dluga = serial.startswith(("31", "32"))
        near = [("gw-dluga", -72.0)] if dluga else [("gw-krotka", -78.0)]
        if dluga and serial[-1] in "123":
            near.append(("gw-krotka", -101.0 - int(serial[-1])))
        for day in range(first_day, END // DAY_S + 1):
            at = min(day * DAY_S + 20 * 3600, END)
            if (serial == SILENT and at >= SILENT_FROM) or (serial == SWAPPED_OLD and at >= SWAP_AT):
                continue
            for gateway, rssi in near:
                out.append(Hearing(gateway, HearingKind.GATEWAY, maker, serial, day, int(rng.integers(80, 120)),
                                   rssi + float(rng.integers(-2, 3)), at))  # fmt: skip
    return out


def create_demo(
    conn: Connection, store: Store, directory: Path, sample_keys: Path | None = None, seed: int = 5
) -> DemoResult:
    import_premises(conn, _register_csv(directory))
    swap = directory / "demo-swap.csv"
    when = datetime.fromtimestamp(SWAP_AT, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    swap.write_text(
        f"premises_id,address,meter_id,manufacturer,medium,installed\nD2,ul. Długa 5/2,{SWAPPED_NEW},APA,water,{when}\n"
    )
    import_premises(conn, swap)
    keys = _keys_csv(directory, sample_keys)
    if keys is not None:
        import_keys(conn, store, keys)
    rng = np.random.default_rng(seed)
    hours = np.arange(START, END, 3600, dtype=np.int64)
    serials = [s for _, _, cold, warm in FLATS for s in (cold, warm) if s] + [SWAPPED_NEW]
    ids = {serial: mid for (_, serial), mid in meter_ids(conn, [("", s) for s in serials]).items()}
    rows: list[tuple[object, ...]] = []
    for n, serial in enumerate(serials):
        warm = serial.startswith("32") or serial in ("41000003", "41000004")
        use = _usage(rng, hours, warm)
        if serial == LEAKING:
            use = use + np.where(hours >= LEAK_FROM, 0.006, 0.0)
        volume = np.round(50.0 + 37.0 * n + np.cumsum(use), 3)
        keep = np.ones(hours.size, dtype=bool)
        if serial == SWAPPED_OLD:
            keep = hours < SWAP_AT
        elif serial == SWAPPED_NEW:
            keep = hours >= SWAP_AT
            volume = np.round(np.cumsum(np.where(keep, use, 0.0)), 3)
        elif serial == SILENT:
            keep = hours < SILENT_FROM
        if serial in CAPTURED:
            volume = np.round(volume - volume[-1] + CAPTURED[serial] - 0.004, 3)
        mid = ids[serial]
        rows += [(mid, int(t), int(t) + 5, float(v), None, None, "radio", "demo", None, None, 0, None, None, None)
                 for t, v in zip(hours[keep], volume[keep], strict=True)]  # fmt: skip
    inserted = insert_rows(conn, rows)
    put_hearings(conn, _hearings(rng, serials, hearings_of=[(ids[s], s) for s in serials]))
    tenant = add_account(conn, TENANT_LOGIN, email="lokator.d2@example.invalid", name="Lokator D2",
                         password=TENANT_PASSWORD)  # fmt: skip
    grant(conn, tenant, "D2", START - 365 * 86400)
    add_account(conn, STAFF_LOGIN, name="Obsługa ZGM", role="staff", password=STAFF_PASSWORD)
    return DemoResult(inserted, TENANT_LOGIN, TENANT_PASSWORD)
