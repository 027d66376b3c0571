"""Meter keys in the store: sealed under the key-encryption key, opened only for the decoder."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from meterd.store.models import Meter, MeterKey
from meterd.store.sealing import Kek, KekError, is_sealed
from meterd.store.state import get_state, put_state

if TYPE_CHECKING:
    from meterd.store import Store

KEK_CHECK = "kek_check"


def store_kek(conn: Connection, store: Store, *, create: bool = False) -> Kek:
    """The store's KEK, checked against the value recorded when its first key was sealed."""
    recorded = get_state(conn, KEK_CHECK)
    kek = store.kek(create=create and recorded is None)
    if recorded is None:
        put_state(conn, KEK_CHECK, kek.check_value())
    elif recorded != kek.check_value():
        pending = kek.path.with_name(kek.path.name + ".new")
        if pending.exists() and Kek.load(pending).check_value() == recorded:
            pending.replace(kek.path)  # a rotation committed but stopped before its rename: finish it
            store._kek = None
            return store.kek()
        raise KekError(f"{kek.path} is not the key-encryption key this store's meter keys were sealed with")
    return kek


def seal_plain_keys(conn: Connection, store: Store) -> int:
    """Seal keys stored in plain text by an older meterd; returns how many."""
    rows = conn.execute(
        select(MeterKey.id, MeterKey.key, Meter.serial).join(Meter, Meter.id == MeterKey.meter_id)
    ).all()
    plain = [r for r in rows if not is_sealed(r.key)]
    if not plain:
        return 0
    kek = store_kek(conn, store, create=True)
    for r in plain:
        conn.execute(update(MeterKey).where(MeterKey.id == r.id).values(key=kek.seal(r.key, r.serial)))
    return len(plain)


def current_key_meters(conn: Connection) -> set[str]:
    """Serials of the meters that have a current key (nothing is unsealed)."""
    return set(
        conn.execute(
            select(Meter.serial).join(MeterKey, MeterKey.meter_id == Meter.id).where(MeterKey.valid_to.is_(None))
        ).scalars()
    )


def current_keys(conn: Connection, store: Store) -> dict[tuple[str, str], bytes]:
    """(manufacturer, serial) → current key, for the decoder only (never for output); the manufacturer
    is "" for a meter the register did not name the maker of."""
    rows = conn.execute(
        select(Meter.manufacturer, Meter.serial, MeterKey.key)
        .join(MeterKey, MeterKey.meter_id == Meter.id)
        .where(MeterKey.valid_to.is_(None))
    ).all()
    if not rows:
        return {}
    kek = store_kek(conn, store)
    return {(maker, serial): kek.unseal(sealed, serial) for maker, serial, sealed in rows}


def put_keys(conn: Connection, store: Store, keys: list[tuple[int, str, bytes]], batch_id: int) -> int:
    """Store (meter id, serial, key) rows; a changed key closes the old one (history kept). Returns rotations."""
    kek = store_kek(conn, store, create=True)
    now = int(time.time())
    current = {
        r.meter_id: (r.id, r.key)
        for r in conn.execute(select(MeterKey.id, MeterKey.meter_id, MeterKey.key).where(MeterKey.valid_to.is_(None)))
    }
    rotated = 0
    new_rows = []
    for meter_id, serial, key in keys:
        old = current.get(meter_id)
        if old is not None:
            if kek.unseal(old[1], serial) == key:
                continue
            conn.execute(update(MeterKey).where(MeterKey.id == old[0]).values(valid_to=now))
            rotated += 1
        new_rows.append({"meter_id": meter_id, "key": kek.seal(key, serial), "valid_from": now, "batch_id": batch_id})
    if new_rows:
        conn.execute(insert(MeterKey), new_rows)
    return rotated


def rotate_kek(store: Store) -> int:
    """Re-seal every stored key (history included) under a new KEK; returns how many keys.

    The new KEK is written beside the old one first (`NAME.new`), the keys are re-sealed in one
    transaction, and only after the commit does the new file replace the old one. A run stopped in
    between is finished by the next opening of the keys (see `store_kek`)."""
    old_path = store.kek_path
    new_path = old_path.with_name(old_path.name + ".new")
    with store.begin() as conn:
        old = store_kek(conn, store)
        new = Kek.generate(new_path)
        rows = conn.execute(
            select(MeterKey.id, MeterKey.key, Meter.serial).join(Meter, Meter.id == MeterKey.meter_id)
        ).all()
        for r in rows:
            key = old.unseal(r.key, r.serial) if is_sealed(r.key) else r.key
            conn.execute(update(MeterKey).where(MeterKey.id == r.id).values(key=new.seal(key, r.serial)))
        put_state(conn, KEK_CHECK, new.check_value())
    new_path.replace(old_path)
    store._kek = None
    return len(rows)
