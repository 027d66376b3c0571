"""Walk-by: `meterd walk` on a route of 5,000 meters, 50,000 telegrams replayed from a capture as fast
as they can be read, with the live screen drawing in a real terminal (tmux). Reported: the wall time
from start to the summary, readings heard, and the screen's refreshes seen meanwhile (the screen runs
on its own thread: it must not hold reception up).

python bench/walk.py [--quick]      last lines: `name: value unit`   (needs tmux)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from meterd.wmbus import builder as b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    meters = 1000 if args.quick else 5000
    rounds = 10
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SystemExit("bench/walk.py needs tmux (Debian package tmux)")
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        data = tmp / "data"
        with (tmp / "register.csv").open("w") as f:
            f.write("premises_id,address,meter_id,manufacturer,medium,installed\n")
            for n in range(meters):
                f.write(f"P{n},ul. Długa {n // 100}/{n % 100},{40000000 + n:08d},ELS,water,2025-01-01\n")
        with (tmp / "route.csv").open("w") as f:
            f.write("route_id,order,premises_id,address,meter_id,medium,previous_reading,previous_date\n")
            for n in range(meters):
                f.write(f"BIG,{n},P{n},ul. Długa {n // 100}/{n % 100},{40000000 + n:08d},water,,\n")
        for cmd in (["db", "upgrade"], ["import", "premises", str(tmp / "register.csv")],
                    ["route", "import", str(tmp / "route.csv")]):  # fmt: skip
            subprocess.run([sys.executable, "-m", "meterd", *cmd, "--data", str(data)], check=True, capture_output=True)
        t0 = int(time.time()) - 3600
        with (tmp / "walk.hex").open("w") as f:  # each meter every 16 s, as walk-by meters send
            for k in range(rounds):
                for n in range(meters):
                    m, a = b.address(f"{40000000 + n:08d}", "ELS", 0x33, 0x07)
                    apl = bytes.fromhex("0413") + (1000 + n + k).to_bytes(4, "little")
                    at = datetime.fromtimestamp(t0 + k * 16 + n * 16 // meters, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    f.write(f"{at} {b.wmbus_frame(0x44, m, a, b.short_tpl(k, 0) + apl).hex()}\n")
        session = f"walkbench{os.getpid()}"
        done = tmp / "done"
        command = (f"{sys.executable} -m meterd walk BIG --dongle hex --port {tmp / 'walk.hex'} --data {data} "
                   f"> /dev/tty; touch {done}; sleep 600")  # fmt: skip
        started = time.monotonic()
        subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "50", command], check=True)
        shots: set[str] = set()
        try:
            while not done.exists() and time.monotonic() - started < 300:
                out = subprocess.run([tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
                m = re.search(r"heard (\d+)", out)
                if m:
                    shots.add(m.group(1))
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            screen = subprocess.run([tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
        finally:
            subprocess.run([tmux, "kill-session", "-t", session], capture_output=True)
        summary = re.search(r"route BIG: (\d+) of (\d+) meters read.*?(\d+) readings heard", screen.replace("\n", " "))
        assert summary, screen
        read, total, heard = map(int, summary.groups())
        assert read == total == meters and heard == meters * rounds, summary.groups()
    print(f"route of {meters} meters, {meters * rounds} telegrams replayed, screen in tmux (start-up included)")
    print(f"walk_time: {elapsed:.1f} s")
    print(f"walk_readings_heard: {heard} readings")
    print(f"walk_screen_updates_seen: {len(shots)} distinct counts")


if __name__ == "__main__":
    main()
