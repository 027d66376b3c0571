"""The walk's live screen (rich): progress counts, the last meters heard, what needs attention, and
the next unread stops in walking order."""

from __future__ import annotations

import time

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from meterd.spreadsheet import local_number as number
from meterd.walk.progress import RouteProgress, StopState
from meterd.walk.words import word


def render(p: RouteProgress) -> Group:
    """The screen in the progress's language. Everything from a route file or a meter (addresses,
    premises, reasons) is put on it as plain text, never read as rich markup."""
    lang = p.lang

    def w(key: str) -> str:
        return word(lang, key)

    c = p.counts()
    total = len(p.stops)
    done = total - c[StopState.NOT_YET]
    elapsed = int(time.monotonic() - p.started)
    head = Text.assemble(
        (f"{w('route')} ", "bold"), (f"{p.route}  ", "bold"),
        f"{w('read')} {done}/{total}  ",
        f"{w('alarm')} {c[StopState.ALARM]}  {w('confirm')} {c[StopState.CONFIRM]}  {w('by_hand')} {c[StopState.MANUAL]}  ",
        f"{w('not_yet')} {c[StopState.NOT_YET]}  ",
        f"{w('heard')} {p.telegrams} ({w('off_route')} {p.off_route})  {elapsed // 60:02d}:{elapsed % 60:02d}  ",
        (w("quit"), "dim"),
    )  # fmt: skip
    heard = Table(w("meter"), "m3", "RSSI", "", title=w("last_heard"), expand=True)
    with p.lock:
        recent = list(p.recent)
    for h in recent:
        heard.add_row(Text(h.meter), "-" if h.total_m3 is None else number(lang, h.total_m3),
                      "-" if h.rssi_dbm is None else f"{h.rssi_dbm:.0f} dBm", "" if h.on_route else w("off_route"))  # fmt: skip
    attention = Table(w("stop"), w("premises"), w("meter"), w("state"), w("why"), title=w("attention"), expand=True)
    for s, st, why in p.attention()[:6]:
        attention.add_row(str(s.order), Text(s.premises), Text(s.meter), w(f"state.{st.value}"), Text(why))
    nxt = Table(w("stop"), w("premises"), w("address"), w("meter"), title=w("next"), expand=True)
    for s in p.next_unread(8):
        nxt.add_row(str(s.order), Text(s.premises), Text(s.address), Text(s.meter))
    return Group(Panel(head), heard, attention, nxt)
