"""Store integrity with hostile input, as a careful user would try it: each test states its rule and
checks the store's content (row counts, assignment history, file bytes) before and after, on SQLite
and on PostgreSQL where the store is involved."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTER = """premises_id,address,meter_id,manufacturer,medium,installed
D1,ul. Długa 5/1,31000001,APA,water,2026-01-01
D2,ul. Długa 5/2,31000002,APA,water,2026-01-01
D2,ul. Długa 5/2,32000002,APA,warm_water,2026-01-01
"""
SWAP = """premises_id,address,meter_id,manufacturer,medium,installed
D2,ul. Długa 5/2,31000099,APA,water,2026-09-15
"""


def meterd(
    *args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    res = subprocess.run(
        [sys.executable, "-m", "meterd", *args],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return subprocess.CompletedProcess(
        res.args, res.returncode, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
    )


@pytest.fixture
def kek_env(tmp_path: Path) -> dict[str, str]:
    return {"METERD_KEK_FILE": str(tmp_path / "kek")}


def write(tmp_path: Path, name: str, content: str | bytes, mode: int = 0o600) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    p.chmod(mode)
    return p


def assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    first = res.stderr.strip().splitlines()[0] if res.stderr.strip() else ""
    assert first.startswith("meterd: error ["), res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


def assignments(store_args: list[str], env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(premises, meter, from) of every assignment, through billing export's view of the store."""
    from meterd.store import Store

    where = dict(zip(store_args[::2], store_args[1::2], strict=True))
    store = Store.open(where.get("--data"), where.get("--db"), kek_path=Path(env["METERD_KEK_FILE"]))
    from sqlalchemy import text

    with store.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT p.code, m.serial, a.valid_from, a.valid_to FROM assignments a"
                " JOIN premises p ON p.id = a.premises_id JOIN meters m ON m.id = a.meter_id ORDER BY 1, 2, 3"
            )
        ).all()
    store.close()
    return [(r[0], r[1], f"{r[2]}-{r[3]}") for r in rows]


def count(store_args: list[str], env: dict[str, str], table: str) -> int:
    from sqlalchemy import text

    from meterd.store import Store

    where = dict(zip(store_args[::2], store_args[1::2], strict=True))
    store = Store.open(where.get("--data"), where.get("--db"), kek_path=Path(env["METERD_KEK_FILE"]))
    with store.begin() as conn:
        n = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    store.close()
    return n


# -- data loss and corruption -------------------------------------------------------------------------


def test_reimporting_an_older_register_never_undoes_a_swap(
    tmp_path: Path, store_args: list[str], kek_env: dict[str, str]
) -> None:
    """A swap the store knows is never undone by an older or identical file: conflicts are named with
    FILE:LINE and nothing changes; --replace makes the file the truth; identical re-imports change nothing."""
    register, swap = write(tmp_path, "register.csv", REGISTER), write(tmp_path, "swap.csv", SWAP)
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    assert meterd("import", "premises", str(register), *store_args, env=kek_env).returncode == 0
    assert meterd("import", "premises", str(swap), *store_args, env=kek_env).returncode == 0
    after_swap = assignments(store_args, kek_env)
    assert [a[:2] for a in after_swap] == [
        ("D1", "31000001"),
        ("D2", "31000002"),
        ("D2", "31000099"),
        ("D2", "32000002"),
    ]
    res = meterd("import", "premises", str(register), *store_args, env=kek_env)
    assert_one_line_error(res, f"{register}:3: meter APA 31000002 was taken out of D2 on 2026-09-15 according to the store")
    assert assignments(store_args, kek_env) == after_swap
    assert meterd("import", "premises", str(swap), *store_args, env=kek_env).returncode == 0  # identical: no change
    assert assignments(store_args, kek_env) == after_swap
    res = meterd("import", "premises", str(register), "--replace", *store_args, env=kek_env)
    assert res.returncode == 0, res.stderr
    assert [a[:2] for a in assignments(store_args, kek_env)] == [
        ("D1", "31000001"),
        ("D2", "31000002"),
        ("D2", "32000002"),
    ]


def test_a_meter_moved_elsewhere_later_is_a_conflict(
    tmp_path: Path, store_args: list[str], kek_env: dict[str, str]
) -> None:
    moved = (
        "premises_id,address,meter_id,manufacturer,medium,installed\nD9,ul. Długa 5/9,31000001,APA,water,2026-10-01\n"
    )
    assert (
        meterd("import", "premises", str(write(tmp_path, "r.csv", REGISTER)), *store_args, env=kek_env).returncode == 2
    )
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    assert (
        meterd("import", "premises", str(write(tmp_path, "r.csv", REGISTER)), *store_args, env=kek_env).returncode == 0
    )
    assert meterd("import", "premises", str(write(tmp_path, "m.csv", moved)), *store_args, env=kek_env).returncode == 0
    res = meterd("import", "premises", str(tmp_path / "r.csv"), *store_args, env=kek_env)
    assert_one_line_error(res, "r.csv:2: meter APA 31000001 hangs in D9 since 2026-10-01 according to the store")


def test_address_changes_are_applied_and_buildings_not_created_for_nothing(
    tmp_path: Path, store_args: list[str], kek_env: dict[str, str]
) -> None:
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    assert (
        meterd("import", "premises", str(write(tmp_path, "r.csv", REGISTER)), *store_args, env=kek_env).returncode == 0
    )
    assert count(store_args, kek_env, "buildings") == 1
    res = meterd("import", "premises", str(tmp_path / "r.csv"), *store_args, env=kek_env)
    assert "buildings 0" in res.stdout and "addresses 0" in res.stdout
    renamed = REGISTER.replace("ul. Długa 5/1,", "ul. Długa 7/1,")
    res = meterd("import", "premises", str(write(tmp_path, "r2.csv", renamed)), *store_args, env=kek_env)
    assert res.returncode == 0 and "addresses 1" in res.stdout and "buildings 1" in res.stdout, res.stdout
    assert count(store_args, kek_env, "buildings") == 2 and count(store_args, kek_env, "premises") == 2


def test_findings_are_kept_once(store_args: list[str], kek_env: dict[str, str], tmp_path: Path) -> None:
    """`check` over the store keeps its findings as anomalies, the same finding twice as one row."""
    from meterd.store import Store
    from meterd.store.checks import check_store
    from meterd.store.demo import create_demo

    where = dict(zip(store_args[::2], store_args[1::2], strict=True))
    store = Store.open(where.get("--data"), where.get("--db"), create=True, kek_path=tmp_path / "kek")
    (tmp_path / "demo").mkdir()
    with store.begin() as conn:
        create_demo(conn, store, tmp_path / "demo")
    with store.begin() as conn:
        findings, _ = check_store(conn)
    assert len(findings) >= 2  # the demo's leak and its silent meter
    assert count(store_args, kek_env, "anomalies") == len(findings)
    res = meterd("check", *store_args, "--format", "jsonl", env=kek_env)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == len(findings)
    assert count(store_args, kek_env, "anomalies") == len(findings)
    store.close()


def test_raw_telegrams_are_stored_once(store_args: list[str], kek_env: dict[str, str], tmp_path: Path) -> None:
    """Repeated and concurrent ingests of one capture store each raw telegram once."""
    capture, keys = sample(tmp_path)
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    assert (
        meterd(
            "import", "premises", str(write(tmp_path, "r.csv", CAPTURE_REGISTER)), *store_args, env=kek_env
        ).returncode
        == 0
    )
    first = meterd("ingest", str(capture), "--keys", str(keys), *store_args, env=kek_env)
    assert first.returncode == 0 and "stored 18" in first.stdout, first.stdout + first.stderr
    telegrams = count(store_args, kek_env, "telegrams")
    assert telegrams == 18
    procs = [
        subprocess.Popen([sys.executable, "-m", "meterd", "ingest", str(capture), "--keys", str(keys), *store_args],
                         env={**os.environ, **kek_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read() if p.stderr else ""
    assert count(store_args, kek_env, "telegrams") == telegrams
    assert count(store_args, kek_env, "readings") == 18


ROOT = Path(__file__).parents[1]


def sample(tmp_path: Path) -> tuple[Path, Path]:
    """The bundled sample capture and its keys (copied with mode 0600)."""
    keys = write(tmp_path, "sample-keys.csv", (ROOT / "config" / "sample-keys.csv").read_bytes())
    return ROOT / "config" / "sample-capture.hex", keys


CAPTURE_REGISTER = "premises_id,address,meter_id,manufacturer,medium,installed\n" + "".join(
    f"K{i},ul. Krótka 1/{i},4100000{i},{maker},water,2026-01-01\n"
    for i, maker in enumerate(["APA", "APA", "DME", "DME", "ZRI", "ZRI"], start=1)
)


def test_impossible_times_are_refused_at_ingest(store_args: list[str], kek_env: dict[str, str], tmp_path: Path) -> None:
    capture, keys = sample(tmp_path)
    lines = capture.read_text().splitlines()
    hexes = [line.split(" ", 1)[1] for line in lines if line[:2] == "20" and " " in line]
    capture = write(
        tmp_path,
        "odd.hex",
        f"9999-12-31T23:59:59Z {hexes[0]}\n0001-01-01T00:00:00Z {hexes[1]}\n2026-11-20T10:00:00Z {hexes[2]}\n",
    )
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    assert (
        meterd(
            "import", "premises", str(write(tmp_path, "r.csv", CAPTURE_REGISTER)), *store_args, env=kek_env
        ).returncode
        == 0
    )
    res = meterd("ingest", str(capture), "--keys", str(keys), *store_args, env=kek_env)
    assert res.returncode == 0 and "stored 1" in res.stdout, (res.stdout, res.stderr)
    assert (
        "bad_time 2" in res.stderr and "odd.hex:1: [bad_time]" in res.stderr and "odd.hex:2: [bad_time]" in res.stderr
    )
    report = meterd("report", *store_args, env=kek_env)
    assert report.returncode == 0 and "Traceback" not in report.stderr


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("D1,a/1,31000001,APA,water,2026-01-01,-2.5", "q3_m3h '-2.5' is not a positive flow"),
        ("D1,a/1,31000001,APA,water,2026-01-01,inf", "q3_m3h 'inf' is not a positive flow"),
        ("D1,a/1,31000001,APA,water,2026-01-01,nan", "q3_m3h 'nan' is not a positive flow"),
        ("D1,a/1,31000001,APA,lava,2026-01-01,2.5", "medium 'lava' is unknown"),
        ("D1,a/1,NOT-A-METER,APA,water,2026-01-01,2.5", "meter_id 'NOT-A-METER' is not a meter id"),
        ("D1,a/1,31000001,A1,water,2026-01-01,2.5", "manufacturer 'A1' is not a three-letter code"),
        ("D1,a/1,31000001,APA,water,9999-12-31,2.5", "installed '9999-12-31' is not a plausible date"),
        ("X" * 100 + ",a/1,31000001,APA,water,2026-01-01,2.5", "premises_id is longer than 64 characters"),
    ],
)
def test_register_values_are_checked(
    row: str, problem: str, tmp_path: Path, store_args: list[str], kek_env: dict[str, str]
) -> None:
    """Every register value is checked on the way in, with FILE:LINE, the same on both databases."""
    assert meterd("db", "upgrade", *store_args, env=kek_env).returncode == 0
    path = write(tmp_path, "r.csv", "premises_id,address,meter_id,manufacturer,medium,installed,q3_m3h\n" + row + "\n")
    assert_one_line_error(meterd("import", "premises", str(path), *store_args, env=kek_env), f"r.csv:2: {problem}")
    assert count(store_args, kek_env, "meters") == 0


def test_a_failed_export_leaves_the_old_file_whole(tmp_path: Path, kek_env: dict[str, str]) -> None:
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data), env=kek_env).returncode == 0
    out = tmp_path / "billing.csv"
    assert (
        meterd(
            "export", "billing", "--cutoff", "2026-10-31", "--out", str(out), "--data", str(data), env=kek_env
        ).returncode
        == 0
    )
    good = out.read_bytes()
    for cutoff in ("9999-99-99", "0001-01-01", "2026-10-31T25:00"):
        res = meterd("export", "billing", "--cutoff", cutoff, "--out", str(out), "--data", str(data), env=kek_env)
        assert_one_line_error(res, "--cutoff")
        assert out.read_bytes() == good
    assert_one_line_error(meterd("export", "billing", "--cutoff", "2026-10-31", "--out", str(tmp_path / "no" / "b.csv"),
                                 "--data", str(data), env=kek_env), "does not exist")  # fmt: skip
    assert_one_line_error(meterd("export", "billing", "--cutoff", "2026-10-31", "--out", str(tmp_path),
                                 "--data", str(data), env=kek_env), "is a folder")  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_retention_refuses_odd_periods_and_asks(tmp_path: Path, kek_env: dict[str, str]) -> None:
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data), env=kek_env).returncode == 0
    before = count(["--data", str(data)], kek_env, "readings")
    for days in ("-5", "0"):
        assert_one_line_error(meterd("retention", "--raw-days", days, "--data", str(data), env=kek_env), "--raw-days")
        assert_one_line_error(
            meterd("retention", "--detail-days", days, "--data", str(data), env=kek_env), "--detail-days"
        )
    res = meterd("retention", "--detail-days", "30", "--data", str(data), env=kek_env)  # not a terminal: --yes needed
    assert_one_line_error(res, "--yes")
    assert "to remove: 0 raw telegrams," in res.stdout and count(["--data", str(data)], kek_env, "readings") == before
    planned = int(res.stdout.split("raw telegrams, ")[1].split()[0])
    assert planned > 0
    res = meterd("retention", "--detail-days", "30", "--yes", "--data", str(data), env=kek_env)
    assert res.returncode == 0 and count(["--data", str(data)], kek_env, "readings") == before - planned


# -- secrets ----------------------------------------------------------------------------------------


KEY = "2223242526272829303132333435363A"


@pytest.mark.parametrize(
    "content",
    [
        f"key,meter_id\n31000001,{KEY}\n",  # columns swapped
        f"meter_id;key\n31000001;{KEY}\n31000002;{KEY[:30]}\n",  # ; separated, one short key
        f"meter_id,key\n{KEY},31000001\n",  # header right, values swapped
        f"meter_id,key\n31000001 {KEY}\n",  # no separator at all
    ],
)
def test_no_value_of_a_key_file_is_ever_printed(content: str, tmp_path: Path, kek_env: dict[str, str]) -> None:
    data = tmp_path / "store"
    assert meterd("db", "upgrade", "--data", str(data), env=kek_env).returncode == 0
    assert (
        meterd(
            "import", "premises", str(write(tmp_path, "r.csv", REGISTER)), "--data", str(data), env=kek_env
        ).returncode
        == 0
    )
    keys = write(tmp_path, "keys.csv", content)
    for res in (
        meterd("import", "keys", str(keys), "--data", str(data), env=kek_env),
        meterd("decode", "--jsonl", "--keys", str(keys), stdin="", env=kek_env),
        meterd(
            "ingest", str(ROOT / "config" / "sample-capture.hex"), "--keys", str(keys), "--data", str(data), env=kek_env
        ),
    ):
        if res.returncode == 0:
            continue  # a file that parses (the ; file's good row) is fine; nothing may echo either way
        assert_one_line_error(res, "keys.csv:")
        for part in (KEY, KEY[:12], KEY[-12:], KEY[:30]):
            assert part not in res.stderr and part not in res.stdout


def test_the_store_is_private_and_keys_are_sealed(tmp_path: Path) -> None:
    """The data folder is 0700, the store and the KEK 0600, the KEK outside the data folder (a backup of
    the folder holds no key that opens it); no key appears in the store file, and a KEK readable by
    others or a wrong KEK is refused; a KEK found inside the data folder (older stores) works, with a
    warning to move it."""
    data = tmp_path / "store"
    kek = tmp_path / "store.kek"
    assert meterd("demo", "--data", str(data)).returncode == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "meterd.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600 and not (data / "meterd.kek").exists()
    sample = (Path(__file__).parents[1] / "config" / "sample-keys.csv").read_text().splitlines()[1:]
    raw = b"".join((data / name).read_bytes() for name in os.listdir(data) if name.startswith("meterd.sqlite"))
    for line in sample:
        key = bytes.fromhex(line.split(",")[1])
        assert key not in raw and key.hex().encode() not in raw.lower()
    capture = Path(__file__).parents[1] / "config" / "sample-capture.hex"
    assert meterd("ingest", str(capture), "--data", str(data)).returncode == 0  # keys open with the KEK
    kek.chmod(0o644)
    assert_one_line_error(meterd("ingest", str(capture), "--data", str(data)), "readable by group or others")
    kek.chmod(0o600)
    other = write(tmp_path, "other.kek", "00" * 32 + "\n")
    res = meterd("ingest", str(capture), "--data", str(data), env={"METERD_KEK_FILE": str(other)})
    assert_one_line_error(res, "is not the key-encryption key")
    kek.rename(data / "meterd.kek")  # where stores made before kept it
    res = meterd("ingest", str(capture), "--data", str(data))
    assert res.returncode == 0 and "inside the data directory" in res.stderr and str(kek) in res.stderr, res.stderr


def test_rotate_kek_reseals_every_key(tmp_path: Path) -> None:
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data)).returncode == 0
    kek = tmp_path / "store.kek"
    old = kek.read_bytes()
    res = meterd("keys", "rotate-kek", "--data", str(data))
    assert res.returncode == 0 and "3 meter keys" in res.stdout, res.stdout + res.stderr
    assert kek.read_bytes() != old and stat.S_IMODE(kek.stat().st_mode) == 0o600
    capture = Path(__file__).parents[1] / "config" / "sample-capture.hex"
    res = meterd("ingest", str(capture), "--data", str(data))
    assert res.returncode == 0 and "decoded 22" in res.stdout, res.stdout + res.stderr
    assert_one_line_error(meterd("ingest", str(capture), "--data", str(data), env={"METERD_KEK_FILE": str(write(tmp_path, "old.kek", old))}),
                          "is not the key-encryption key")  # fmt: skip


def test_plain_keys_of_an_older_store_are_sealed_on_upgrade(tmp_path: Path) -> None:
    from sqlalchemy import text

    from meterd.store import Store

    data = tmp_path / "store"
    store = Store.open(data, create=True)
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO meters (serial, manufacturer, medium, driver, kind, q3_m3h, schedule) VALUES ('12345678', 'ABC', 'water', 'auto', 'radio', 2.5, '')"
            )
        )
        conn.execute(
            text("INSERT INTO meter_keys (meter_id, key, valid_from) VALUES (1, :k, 0)"), {"k": bytes(range(16))}
        )
    store.upgrade()
    with store.begin() as conn:
        sealed = conn.execute(text("SELECT key FROM meter_keys")).scalar_one()
        from meterd.store.keys import current_keys

        assert bytes(sealed) != bytes(range(16)) and len(sealed) == 45
        assert current_keys(conn, store) == {("ABC", "12345678"): bytes(range(16))}


# -- clear errors instead of tracebacks --------------------------------------------------------------------


def test_polish_spreadsheet_files_are_read(tmp_path: Path, kek_env: dict[str, str]) -> None:
    """cp1250 with --encoding, UTF-8 with a BOM and ;-separated CRLF files are read; cp1250 without
    --encoding is a clear error naming the line and the way out."""
    data = tmp_path / "store"
    assert meterd("db", "upgrade", "--data", str(data), env=kek_env).returncode == 0
    text = REGISTER.replace(",", ";").replace("\n", "\r\n").replace("Długa", "Łąkowa")
    cp = write(tmp_path, "cp.csv", text.encode("cp1250"))
    res = meterd("import", "premises", str(cp), "--data", str(data), env=kek_env)
    assert_one_line_error(res, "cp.csv:2: not utf-8 text", "--encoding cp1250")
    res = meterd("import", "premises", str(cp), "--encoding", "cp1250", "--data", str(data), env=kek_env)
    assert res.returncode == 0 and "premises 2" in res.stdout, res.stderr
    bom = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.replace("Łąkowa", "Łąkowa").encode())
    res = meterd("import", "premises", str(bom), "--data", str(data), env=kek_env)
    assert res.returncode == 0 and "addresses 0" in res.stdout, res.stdout + res.stderr
    report = meterd("report", "--data", str(data), "--premises", "D1", env=kek_env)
    assert report.returncode == 0
    assert_one_line_error(
        meterd("import", "premises", str(cp), "--encoding", "klingon", "--data", str(data), env=kek_env),
        "unknown encoding",
    )


def test_lines_and_fields_are_bounded(tmp_path: Path, kek_env: dict[str, str]) -> None:
    """A 50 MB one-line register and a 200 KiB field are clear errors, and memory stays flat."""
    data = tmp_path / "store"
    assert meterd("db", "upgrade", "--data", str(data), env=kek_env).returncode == 0
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.write(b"premises_id,address,meter_id,manufacturer,medium,installed\n")
        for _ in range(50):
            f.write(b"x" * (1 << 20))
    script = (
        "import resource, sys; from meterd.cli import main; rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    )
    small = write(tmp_path, "small.csv", REGISTER)

    def rss_kib(path: Path) -> tuple[int, str]:
        res = subprocess.run([sys.executable, "-c", script, "import", "premises", str(path), "--data", str(data)],
                             capture_output=True, text=True, env={**os.environ, **kek_env}, check=False)  # fmt: skip
        return int(res.stderr.strip().splitlines()[-1]), res.stderr

    baseline, _ = rss_kib(small)
    peak, err = rss_kib(huge)
    assert "huge.csv:2: line longer than" in err
    assert peak - baseline < 10_000  # KiB: a few MB over a small file's run, whatever the 50 MB line
    field = write(
        tmp_path,
        "field.csv",
        'premises_id,address,meter_id,manufacturer,medium,installed\nD1,"'
        + "y" * 200_000
        + '",31000001,APA,water,2026-01-01\n',
    )
    assert_one_line_error(
        meterd("import", "premises", str(field), "--data", str(data), env=kek_env),
        "field.csv:2: malformed CSV (field too long",
    )


@contextlib.contextmanager
def read_only(data: Path) -> Iterator[Path]:
    """The folder as a read-only file system (a read-only bind mount as root; file modes otherwise)."""
    if os.geteuid() != 0:
        for name in os.listdir(data):
            (data / name).chmod(0o400)
        data.chmod(0o500)
        try:
            yield data
        finally:
            data.chmod(0o700)
            for name in os.listdir(data):
                (data / name).chmod(0o600)
        return
    view = data.with_name(data.name + "-ro")
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(data), str(view)], capture_output=True, check=False).returncode:
        pytest.skip("cannot bind-mount here to make a read-only store")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=False, capture_output=True)


def test_store_trouble_is_one_line(tmp_path: Path) -> None:
    """A read-only store still reports; writing to it, a garbage or foreign file, --data on a file, an
    unreachable server, a missing database and a bad URL are each one line and exit 2, the store untouched."""
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data)).returncode == 0
    before = (data / "meterd.sqlite").read_bytes()
    for name in os.listdir(data):
        (data / name).chmod(0o400)
    data.chmod(0o500)
    try:
        if os.geteuid() != 0:
            assert meterd("report", "--data", str(data), "--premises", "D2").returncode == 0
            assert meterd("db", "status", "--data", str(data)).returncode == 0
            assert_one_line_error(
                meterd("ingest", str(Path(__file__).parents[1] / "config" / "sample-capture.hex"), "--data", str(data)),
                "read-only",
            )
    finally:
        data.chmod(0o700)
        for name in os.listdir(data):
            (data / name).chmod(0o600)
    assert (data / "meterd.sqlite").read_bytes() == before
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "meterd.sqlite").write_bytes(b"this is not a database at all" * 100)
    assert_one_line_error(meterd("report", "--data", str(garbage)), "not a SQLite database")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "meterd.sqlite") as c:
        c.execute("CREATE TABLE invoices (id INTEGER)")
    assert_one_line_error(meterd("report", "--data", str(foreign)), "is not a meterd store")
    assert_one_line_error(meterd("db", "upgrade", "--data", str(foreign)), "is not a meterd store")
    assert_one_line_error(meterd("report", "--data", str(garbage / "meterd.sqlite")), "is a file")
    assert_one_line_error(meterd("report", "--db", "postgresql://nobody@127.0.0.1:1/none"), "cannot open store")
    assert_one_line_error(
        meterd("report", "--db", "postgresql://postgres@127.0.0.1:5432/no_such_database_here"), "cannot open store"
    )
    assert_one_line_error(meterd("report", "--db", "mysql://x@y/z"), "unsupported database")
    assert_one_line_error(meterd("report", "--db", "::::"), "is not a database URL")


def test_store_trouble_when_the_disk_is_full(tmp_path: Path) -> None:
    """A store that cannot grow: one line, nothing of the SQL or its parameters, nothing half-stored."""
    from meterd.store.engine import describe

    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data)).returncode == 0
    with sqlite3.connect(data / "meterd.sqlite") as c:
        pages = c.execute("PRAGMA page_count").fetchone()[0]
        try:
            c.execute(f"PRAGMA max_page_count = {pages}")
            c.executemany("INSERT INTO telegrams (received_at, gateway, raw, digest) VALUES (?, '', ?, ?)",
                          [(1_800_000_000, os.urandom(4000), os.urandom(32)) for _ in range(200)])  # fmt: skip
            raise AssertionError("the store grew past its limit")
        except sqlite3.OperationalError as e:
            from sqlalchemy.exc import OperationalError

            text = describe(OperationalError("INSERT ...", {"raw": b"secret"}, e))
    assert text == "the disk holding the store is full; nothing was changed"


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data)).returncode == 0
    telegram = "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"
    assert_one_line_error(meterd("analyze", telegram, "--key", "XYZ"), "key is not hex")
    assert_one_line_error(meterd("analyze", "2E44"), "cannot explain 2 bytes")
    assert_one_line_error(meterd("check", "--now", "garbage", "--data", str(data)), "--now 'garbage'")
    readings = write(
        tmp_path,
        "r.csv",
        "meter_id,measured_at,total_m3\nA,99999-01-01T00:00:00Z,1\nA,2026-01-01T00:00:00Z,inf\nA,2026-01-02T00:00:00Z,-5\n",
    )
    res = meterd("check", "--readings", str(readings))
    assert res.returncode == 0 and "Traceback" not in res.stderr
    assert (
        "line 2: measured_at" in res.stderr
        and "line 3: total_m3 'inf'" in res.stderr
        and "line 4: total_m3 '-5'" in res.stderr
    )
    assert_one_line_error(
        meterd("listen", "--dongle", "rtlwmbus", "--port", "/nonexistent"), "/nonexistent: no such file"
    )
    assert_one_line_error(meterd("report", "--data", str(data), "--months", "0"), "--months")
    with open("/dev/full", "wb") as full:
        res2 = subprocess.run([sys.executable, "-m", "meterd", "decode", "--jsonl"], input=(telegram + "\n").encode() * 5000,
                              stdout=full, stderr=subprocess.PIPE, check=False)  # fmt: skip
    assert res2.returncode == 2 and b"No space left on device" in res2.stderr and b"Traceback" not in res2.stderr


def test_listen_ends_promptly_on_sigterm_and_reads_fifos(tmp_path: Path) -> None:
    import signal
    import time

    idle = subprocess.Popen([sys.executable, "-m", "meterd", "listen", "--dongle", "hex", "--port", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    time.sleep(1.5)
    idle.send_signal(signal.SIGTERM)
    assert idle.wait(5) == 0
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    telegram = "2E4493157856341233037A2A0000002F2F0C1427048502046D32371F1502FD1700002F2F2F2F2F2F2F2F2F2F2F2F2F"
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "listen", "--dongle", "hex", "--port", str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    with open(fifo, "w") as w:
        w.write(telegram + "\n")
    time.sleep(1.5)
    with open(fifo, "w") as w:  # a second writer: the FIFO is listened to until SIGTERM
        w.write(telegram + "\n")
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert out.count(b'"id":"12345678"') == 2


def test_quiet_failures_now_speak(tmp_path: Path, kek_env: dict[str, str]) -> None:
    """A capture of junk says why by reason and shows the first lines; unknown meters are named and can
    be written out."""
    data = tmp_path / "store"
    assert meterd("demo", "--data", str(data), env=kek_env).returncode == 0
    junk = write(tmp_path, "junk.hex", "".join(f"{'ZZ' * (i % 7 + 1)}\n" if i % 2 else "0102\n" for i in range(951)))
    res = meterd("ingest", str(junk), "--data", str(data), env=kek_env)
    assert_one_line_error(res, "nothing in", "junk.hex:1: [", "too_short 476, bad_hex 475")
    assert "errors 951" in res.stdout
    capture = Path(__file__).parents[1] / "config" / "sample-capture.hex"
    unknown = tmp_path / "unknown.csv"
    res = meterd("ingest", str(capture), "--data", str(data), "--unknown-out", str(unknown), env=kek_env)
    assert (
        res.returncode == 0
        and "meters not in the register (readings not stored): CEN 12345678 (1), ELS 12345678 (1), QDS 55667788 (1)"
        in res.stderr
    )
    # the gas meter's telegram heard twice is one reading, as the gateway keeps it
    assert unknown.read_text() == "meter_id,manufacturer,readings\n12345678,CEN,1\n12345678,ELS,1\n55667788,QDS,1\n"
    assert "stored 0, duplicates 19, unknown_meter 3" in res.stdout  # the demo holds the capture already


HOSTILE = {
    "malformed.csv": b'premises_id,address,meter_id,key,meter_id,measured_at,total_m3,installed\n"unclosed,quote\n',
    "cp1250.csv": "premises_id,address,meter_id,key,measured_at,total_m3,installed\nŁ,ł,ż,ś,ć,ń,ó\n".encode("cp1250"),
    "huge_field.csv": b"premises_id,address,meter_id,key,measured_at,total_m3,installed\n"
    + b"a" * (200 << 10)
    + b",b\n",
    "empty.csv": b"",
    "binary.csv": bytes(range(256)) * 8,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_file_reading_command_refuses_hostile_files(name: str, tmp_path: Path, kek_env: dict[str, str]) -> None:
    data = tmp_path / "store"
    assert meterd("db", "upgrade", "--data", str(data), env=kek_env).returncode == 0
    path = write(tmp_path, name, HOSTILE[name])
    commands = [
        ("import", "premises", str(path), "--data", str(data)),
        ("import", "keys", str(path), "--data", str(data)),
        ("ingest", str(path), "--data", str(data)),
        ("check", "--readings", str(path)),
        (
            "check",
            "--readings",
            str(write(tmp_path, "ok.csv", "meter_id,measured_at,total_m3\n")),
            "--meters",
            str(path),
        ),
        ("decode", "--jsonl", "--keys", str(path)),
        ("route", "import", str(path), "--data", str(data)),
        ("route", "sync", str(path), "--data", str(data)),
    ]
    for args in commands:
        res = meterd(*args, stdin="", env=kek_env)
        assert_one_line_error(res, name)
        assert len(res.stderr.strip().splitlines()) <= 8, res.stderr
    assert count(["--data", str(data)], kek_env, "meters") == 0
