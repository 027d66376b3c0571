"""`meterd walk`: the route's progress (pure), the live screen in tmux over a FIFO receiver, manual
entry, and the export that follows."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require_service
from support.gateway import telegram
from support.waiting import wait_for

from meterd.reading import MeterIdentity, Reading, Source, TimeBasis
from meterd.store.routes import Stop
from meterd.walk.progress import RouteProgress, StopState, plausibility

DAY = 86400


def stop(order: int, meter: str, previous: float | None = None, previous_at: int | None = None) -> Stop:
    return Stop("R", order, f"P{order}", f"ul. Polna 1/{order}", meter, "water", previous, previous_at)


def test_readings_below_the_last_one_or_beyond_q3_need_confirmation() -> None:
    s = stop(1, "1", previous=100.0, previous_at=1_780_000_000)
    assert plausibility(s, 99.0, 1_780_000_000 + DAY, 2.5).startswith("99.000 m3 is below")
    assert plausibility(s, 150.0, 1_780_000_000 + DAY, 2.5) == ""  # 2.5 m3/h for a day: up to 160
    assert "more than Q3" in plausibility(s, 170.0, 1_780_000_000 + DAY, 2.5)
    assert plausibility(stop(2, "2"), 5.0, 1_780_000_000, 2.5) == ""  # nothing to compare with


def test_progress_counts_states_and_keeps_walking_order() -> None:
    p = RouteProgress("R", [stop(1, "A", 10.0), stop(2, "B"), stop(3, "C"), stop(4, "D")], {"A": 2.5})

    def r(meter: str, total: float, alarms: tuple[str, ...] = (), source: Source = Source.WALKBY) -> Reading:
        return Reading(MeterIdentity("ELS", meter, 1, 7), "water", 1_780_000_000, 1_780_000_000, total, {}, alarms,
                       -60.0, source, basis=TimeBasis.ACCESS_NUMBER, reading_id=meter)  # fmt: skip

    p.heard([r("A", 9.0), r("B", 1.0, ("leak",)), r("Z", 3.0), r("D", 4.0, source=Source.MANUAL)])
    c = p.counts()
    assert (c[StopState.CONFIRM], c[StopState.ALARM], c[StopState.MANUAL], c[StopState.NOT_YET]) == (1, 1, 1, 1)
    assert [s.order for s in p.next_unread()] == [3] and p.off_route == 1 and p.telegrams == 4
    assert "3 of 4 meters read" in p.summary()


def meterd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "meterd", *args], capture_output=True, text=True, timeout=120)


def route_in_store(tmp_path: Path, route: str, addresses: dict[int, str], previous: dict[int, str] | None = None) -> Path:
    """A data directory whose register holds flats A<n> with meters 2000000<n>, and route `route`
    visiting them in order; `previous` gives stops a last billed reading of 1 Nov 2026."""
    data = tmp_path / "data"
    previous = previous or {}
    (tmp_path / "register.csv").write_text(
        "premises_id,address,meter_id,manufacturer,medium,installed\n"
        + "".join(f"A{n},ul. Polna 1/{n},{20000000 + n:08d},ELS,water,2025-01-01\n" for n in addresses)
    )
    (tmp_path / "route.csv").write_text(
        "route_id,order,premises_id,address,meter_id,medium,previous_reading,previous_date\n"
        + "".join(f"{route},{n},A{n},{a},{20000000 + n:08d},water,{previous.get(n, '')},"
                  f"{'2026-11-01' if n in previous else ''}\n" for n, a in addresses.items())
    )  # fmt: skip
    for args in (("db", "upgrade"), ("import", "premises", str(tmp_path / "register.csv")),
                 ("route", "import", str(tmp_path / "route.csv"))):  # fmt: skip
        assert meterd(*args, "--data", str(data)).returncode == 0
    return data


class WalkScreen:
    """`meterd walk ROUTE` on a FIFO dongle in a tmux session of its own: write telegrams, read the screen."""

    def __init__(self, tmp_path: Path, data: Path, route: str, env: str = "") -> None:
        self.tmux, self.fifo, self.session = tmux_path(), tmp_path / "dongle", f"walk{os.getpid()}{route}"
        os.mkfifo(self.fifo)
        command = f"{env} {sys.executable} -m meterd walk {route} --dongle hex --port {self.fifo} --data {data}; sleep 30"
        subprocess.run([self.tmux, "new-session", "-d", "-s", self.session, "-x", "110", "-y", "45", command], check=True)

    def screen(self) -> str:
        return subprocess.run([self.tmux, "capture-pane", "-p", "-t", self.session], capture_output=True,
                              text=True).stdout  # fmt: skip

    def hear(self, *lines: str) -> None:
        with open(self.fifo, "w") as w:
            w.write("".join(line + "\n" for line in lines))

    def key(self, key: str) -> None:
        subprocess.run([self.tmux, "send-keys", "-t", self.session, key], check=True)

    def close(self) -> None:
        subprocess.run([self.tmux, "kill-session", "-t", self.session], capture_output=True)


def tmux_path() -> str:
    tmux = shutil.which("tmux")
    if tmux is None:
        require_service("tmux", "Debian package tmux not installed (scripts/debian-packages.sh)")
    assert tmux is not None
    return tmux


def test_the_live_screen_in_tmux_and_manual_entry(tmp_path: Path) -> None:
    data = route_in_store(tmp_path, "R1", {n: f"ul. Polna 1/{n}" for n in range(1, 6)}, {2: "5"})
    walk = WalkScreen(tmp_path, data, "R1")
    try:
        assert wait_for(lambda: "Route R1" in walk.screen(), 20), walk.screen()
        # the dongle hears meters 1 and 2, a stranger, and a corrupted telegram
        walk.hear(telegram(1).hex(), telegram(2).hex(), telegram(42).hex(), telegram(3).hex()[:20])
        assert wait_for(lambda: "read 2/5" in walk.screen(), 20), walk.screen()
        shot = walk.screen()
        assert "needs confirmation" in shot and "below the last" in shot and "off route" in shot
        assert "20000003" in shot and "ul. Polna 1/3" in shot  # next unread, in walking order
        if os.environ.get("METERD_UPDATE_DOCS") == "1":  # the screen shown in the README
            (Path(__file__).parent.parent / "docs" / "walk-screen.txt").write_text(shot.rstrip() + "\n")
        walk.key("q")
        assert wait_for(lambda: "route R1: 2 of 5 meters read" in walk.screen(), 20), walk.screen()
    finally:
        walk.close()
    photo = tmp_path / "dial.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    res = meterd("route", "manual", "R1", "--meter", "20000004", "--value", "12.5", "--reason", "meter behind a wardrobe",
                 "--reader", "Jan K.", "--photo", str(photo), "--data", str(data))  # fmt: skip
    assert res.returncode == 0 and "12.500 m3 entered by Jan K." in res.stdout, res.stderr
    assert len(list((data / "photos" / "R1").iterdir())) == 1
    rows = {r["order"]: r for r in csv.DictReader(io.StringIO(meterd("route", "export", "R1", "--data", str(data)).stdout))}
    assert rows["1"]["source"] == "walkby" and rows["1"]["reading"] == "1.001"
    assert rows["2"]["flags"] == "below_previous"
    assert rows["4"]["source"] == "manual" and rows["4"]["flags"] == "entered_by_hand"
    assert rows["5"]["flags"] == "not_read"
    bad = meterd("route", "manual", "R1", "--meter", "29999999", "--value", "1", "--reason", "x", "--reader", "y",
                 "--data", str(data))  # fmt: skip
    assert bad.returncode == 2 and "not on route R1" in bad.stderr


def test_walk_refuses_an_unknown_route_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert meterd("db", "upgrade", "--data", str(data)).returncode == 0
    res = meterd("walk", "NOPE", "--dongle", "hex", "--port", str(tmp_path / "x"), "--data", str(data))
    assert res.returncode == 2 and "no route 'NOPE'" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_a_200_meter_route_walked_with_a_simulated_dongle_pulled_mid_route(tmp_path: Path) -> None:
    """An iM871A on a pty replays a walk: 10 meters are never heard, one sends an alarm, one was
    swapped since the route file was made (its new meter is heard instead), a few telegrams arrive
    corrupted, and the dongle is pulled out and put back halfway. Progress, the store and the export
    agree, and syncing the bundle twice stores it once."""
    import signal

    from support.dongles import Device, Pty, im871a_respond
    from support.gateway import on_im871a

    from meterd.wmbus import builder as b

    n = 200
    data = tmp_path / "data"
    register = ["premises_id,address,meter_id,manufacturer,medium,installed"]
    register += [f"F{i},ul. Długa 3/{i},{20000000 + i:08d},ELS,water,2025-01-01" for i in range(n)]
    register += ["F7,ul. Długa 3/7,29990007,ELS,water,2026-09-01"]  # F7's meter was swapped in September
    (tmp_path / "register.csv").write_text("\n".join(register) + "\n")
    route = ["route_id,order,premises_id,address,meter_id,medium,previous_reading,previous_date"]
    route += [f"D3,{i},F{i},ul. Długa 3/{i},{20000000 + i:08d},water,," for i in range(n)]
    (tmp_path / "route.csv").write_text("\n".join(route) + "\n")
    for args in (("db", "upgrade"), ("import", "premises", str(tmp_path / "register.csv"))):
        assert meterd(*args, "--data", str(data)).returncode == 0
    res = meterd("route", "import", str(tmp_path / "route.csv"), "--data", str(data))
    assert "stop 7: meter 20000007 no longer hangs in F7" in res.stderr

    silent = set(range(190, 200))
    def frame(i: int) -> bytes:
        if i == 7:  # the new meter of F7
            m, a = b.address("29990007", "ELS", 0x33, 0x07)
            return b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0) + bytes.fromhex("0413") + (77).to_bytes(4, "little"))
        if i == 42:  # an alarm in the status byte
            m, a = b.address(f"{20000000 + i:08d}", "ELS", 0x33, 0x07)
            return b.wmbus_frame(0x44, m, a, b.short_tpl(1, 0x10) + bytes.fromhex("0413") + (1042).to_bytes(4, "little"))
        return telegram(i)

    heard = [i for i in range(n) if i not in silent]
    first, second = heard[:95], heard[95:]
    corrupted = [on_im871a(telegram(i))[:-4] + b"\x00\x00\x00\x00" for i in (3, 4)]
    link = tmp_path / "im871a"
    pty = Pty(link)
    dev = Device(pty, im871a_respond, [on_im871a(frame(i)) for i in first] + corrupted)
    dev.start()
    proc = subprocess.Popen([sys.executable, "-m", "meterd", "walk", "D3", "--dongle", "im871a", "--port", str(link),
                             "--data", str(data), "--log", str(tmp_path / "walk.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def stored() -> int:
        import sqlite3

        with sqlite3.connect(data / "meterd.sqlite") as c:
            return int(c.execute("SELECT count(*) FROM readings").fetchone()[0])

    try:
        assert wait_for(lambda: stored() >= len(first), 40), (tmp_path / "walk.log").read_text()
        dev.done.set()
        pty.unplug()  # pulled out mid-route...
        time.sleep(1.5)
        pty2 = Pty(link)  # ...and back in
        dev2 = Device(pty2, im871a_respond, [on_im871a(frame(i)) for i in second])
        dev2.start()
        assert wait_for(lambda: stored() >= len(heard), 40), (tmp_path / "walk.log").read_text()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert f"route D3: {len(heard) - 1} of {n} meters read (1 with alarm" in out, out  # F7's old meter: not heard
    rows = {int(r["order"]): r for r in csv.DictReader(io.StringIO(meterd("route", "export", "D3", "--data", str(data)).stdout))}
    assert rows[42]["flags"] == "error" and rows[7]["flags"] == "not_read"  # status bit 0x10: an error
    assert {i for i, r in rows.items() if r["flags"] == "not_read"} == silent | {7}
    assert all(rows[i]["source"] == "walkby" for i in heard if i != 7)
    bundle = tmp_path / "d3.bundle"
    assert meterd("route", "bundle", "D3", "--out", str(bundle), "--data", str(data)).returncode == 0
    central = tmp_path / "central"
    for args in (("db", "upgrade"), ("import", "premises", str(tmp_path / "register.csv"))):
        assert meterd(*args, "--data", str(central)).returncode == 0
    outs = [meterd("route", "sync", str(bundle), "--data", str(central)).stdout.strip() for _ in range(2)]
    assert outs[0].startswith(f"stored {len(heard) - 1},") and outs[1].startswith("stored 0,"), outs


def test_reasons_and_the_summary_speak_polish_with_decimal_commas() -> None:
    from meterd.walk.words import locale_lang

    s = stop(1, "1", previous=100.0, previous_at=1_780_000_000)
    assert plausibility(s, 99.5, 1_780_000_000 + DAY, 2.5, "pl") == "99,500 m3 to mniej niż ostatni odczyt 100,000 m3"
    assert "więcej, niż Q3" in plausibility(s, 170.0, 1_780_000_000 + DAY, 2.5, "pl")
    p = RouteProgress("R", [stop(1, "A"), stop(2, "B")], lang="pl")
    p.heard([Reading(MeterIdentity("ELS", "A", 1, 7), "water", 1_780_000_000, 1_780_000_000, 1.0, {}, ("leak",),
                     basis=TimeBasis.ACCESS_NUMBER, reading_id="a")])  # fmt: skip
    assert p.attention()[0][2] == "wyciek"
    assert p.summary().startswith("trasa R: odczytano 1 z 2 wodomierzy (1 z alarmem")
    assert locale_lang({"LANG": "pl_PL.UTF-8"}) == "pl" and locale_lang({"LANG": "en_GB.UTF-8"}) == "en"
    assert locale_lang({"LC_ALL": "C", "LANG": "pl_PL.UTF-8"}) == "en" and locale_lang({}) == "en"


def test_a_walk_replayed_from_an_older_capture_is_exported_as_read(tmp_path: Path) -> None:
    """The capture was recorded ten days before the route was imported, and its meters' clocks say
    nothing of today: what the walk heard is what the export and the bundle count."""
    data = route_in_store(tmp_path, "R7", {n: f"ul. Polna 1/{n}" for n in range(1, 8)})
    t0 = time.time() - 10 * DAY
    capture = tmp_path / "walk.hex"
    capture.write_text("".join(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0 + 20 * n))} {telegram(n).hex()}\n" for n in range(1, 8)
    ))  # fmt: skip
    res = meterd("walk", "R7", "--dongle", "hex", "--port", str(capture), "--pace", "50", "--lang", "pl",
                 "--data", str(data))  # fmt: skip
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "trasa R7: odczytano 7 z 7 wodomierzy" in res.stdout, res.stdout
    export = meterd("route", "export", "R7", "--data", str(data))
    rows = list(csv.DictReader(io.StringIO(export.stdout)))
    assert [r["reading"] for r in rows] == [f"{1 + n / 1000:.3f}" for n in range(1, 8)], export.stdout
    assert "7 of 7 meters read" in export.stderr
    bundle = tmp_path / "r7.bundle"
    assert meterd("route", "bundle", "R7", "--out", str(bundle), "--data", str(data)).returncode == 0
    lines = bundle.read_text().splitlines()
    assert len([x for x in lines if '"hearing"' not in x]) == 1 + 7  # the header and 7 readings
    assert len([x for x in lines if '"hearing"' in x]) == 7  # and what the walk heard, for coverage
    assert meterd("walk", "R7", "--dongle", "hex", "--port", str(capture), "--pace", "-1",
                  "--data", str(data)).stderr.strip().endswith("--pace must be 0 or more, not -1.0")  # fmt: skip


def test_the_walk_screen_in_polish_shows_addresses_as_text_never_as_markup(tmp_path: Path) -> None:
    addresses = {1: "ul. Polna 1/1", 2: "ul. [/b]Polna 1/2", 3: "ul. [link=https://zly.example]Polna[/link] 1/3"}
    data = route_in_store(tmp_path, "R1", addresses, {1: "5"})
    walk = WalkScreen(tmp_path, data, "R1", env="LANG=pl_PL.UTF-8")
    try:
        assert wait_for(lambda: "Trasa R1" in walk.screen(), 20), walk.screen()
        walk.hear(telegram(1).hex())
        assert wait_for(lambda: "odczytane 1/3" in walk.screen(), 20), walk.screen()
        shot = walk.screen()
        assert "do potwierdzenia" in shot and "1,001 m3 to mniej niż ostatni" in shot and "5,000 m3" in shot, shot
        assert "Następne nieodczytane" in shot and "jeszcze nie" in shot
        assert addresses[2] in shot and addresses[3] in shot, shot  # as written, markup and all
        for english in ("Route", "Last heard", "Needs attention", "not yet", "needs confirmation"):
            assert english not in shot, english
        walk.key("q")
        assert wait_for(lambda: "trasa R1: odczytano 1 z 3 wodomierzy" in walk.screen(), 20), walk.screen()
        assert "Traceback" not in walk.screen()
    finally:
        walk.close()
