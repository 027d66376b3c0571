"""The walk's live screen (rich): progress counts, the last meters heard, what needs attention, and
the next unread stops in walking order."""

from __future__ import annotations

import time

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from meterd.walk.progress import RouteProgress, StopState


def render(p: RouteProgress) -> Group:
    c = p.counts()
    total = len(p.stops)
    done = total - c[StopState.NOT_YET]
    elapsed = int(time.monotonic() - p.started)
    head = Text.assemble(
        (f"Route {p.route}  ", "bold"),
        f"read {done}/{total}  ",
        f"alarm {c[StopState.ALARM]}  confirm {c[StopState.CONFIRM]}  by hand {c[StopState.MANUAL]}  ",
        f"not yet {c[StopState.NOT_YET]}  ",
        f"heard {p.telegrams} (off route {p.off_route})  {elapsed // 60:02d}:{elapsed % 60:02d}  ",
        ("q: end", "dim"),
    )
    heard = Table("meter", "m3", "RSSI", "", title="Last heard", expand=True)
    with p.lock:
        recent = list(p.recent)
    for h in recent:
        heard.add_row(h.meter, "-" if h.total_m3 is None else f"{h.total_m3:.3f}",
                      "-" if h.rssi_dbm is None else f"{h.rssi_dbm:.0f} dBm", "" if h.on_route else "off route")  # fmt: skip
    attention = Table("stop", "premises", "meter", "state", "why", title="Needs attention", expand=True)
    for s, st, why in p.attention()[:6]:
        attention.add_row(str(s.order), s.premises, s.meter, st.value, why)
    nxt = Table("stop", "premises", "address", "meter", title="Next not yet read", expand=True)
    for s in p.next_unread(8):
        nxt.add_row(str(s.order), s.premises, s.address, s.meter)
    return Group(Panel(head), heard, attention, nxt)
