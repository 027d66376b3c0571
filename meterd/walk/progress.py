"""A route's progress, pure: stops in walking order, what was heard of each, and the plausibility of
each reading against the last billed one. Fed by the walk's sink, read by its screen."""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from meterd.reading import Reading, Source
from meterd.spreadsheet import local_number as number
from meterd.store.routes import Stop
from meterd.validate.plausible import beyond
from meterd.walk.words import alarm_words, word


class StopState(enum.Enum):
    NOT_YET = "not yet"
    READ = "read"
    ALARM = "read, alarm"
    CONFIRM = "needs confirmation"
    MANUAL = "entered by hand"


@dataclass(frozen=True)
class Heard:
    meter: str
    total_m3: float | None
    rssi_dbm: float | None
    at: float
    on_route: bool


def plausibility(stop: Stop, total_m3: float | None, measured_at: int, q3_m3h: float | None, lang: str = "en") -> str:
    """Why a reading needs confirmation ("" when it does not), in `lang`: below the last billed reading,
    or above it plus the meter's nominal flow Q3 running the whole time since."""
    if total_m3 is None or stop.previous_reading is None:
        return ""
    found = beyond(stop.previous_reading, stop.previous_date, total_m3, measured_at, q3_m3h)
    if found is None:
        return ""
    total = number(lang, total_m3)
    if found[0] == "below":
        return word(lang, "below", total=total, previous=number(lang, found[1]))
    return word(lang, "beyond_q3", total=total, most=number(lang, found[1]))


@dataclass
class RouteProgress:
    route: str
    stops: list[Stop]
    q3: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    state: dict[int, StopState] = field(default_factory=dict)  # stop order → state
    why: dict[int, str] = field(default_factory=dict)
    recent: deque[Heard] = field(default_factory=lambda: deque(maxlen=8))
    telegrams: int = 0
    off_route: int = 0
    lang: str = "en"  # of the reasons and the summary: pl or en
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._by_meter: dict[str, list[Stop]] = {}
        for s in self.stops:
            self._by_meter.setdefault(s.meter, []).append(s)
            self.state.setdefault(s.order, StopState.NOT_YET)

    def heard(self, readings: Sequence[Reading]) -> None:
        with self.lock:
            for r in readings:
                self.telegrams += 1
                stops = self._by_meter.get(r.meter.id, [])
                self.recent.appendleft(Heard(r.meter.id, r.total_m3, r.rssi_dbm, time.monotonic(), bool(stops)))
                if not stops:
                    self.off_route += 1
                for stop in stops:
                    self._mark(stop, r)

    def _mark(self, stop: Stop, r: Reading) -> None:
        if r.source is Source.MANUAL:
            self.state[stop.order] = StopState.MANUAL
            return
        problem = plausibility(stop, r.total_m3, r.measured_at, self.q3.get(stop.meter), self.lang)
        if problem:
            self.state[stop.order], self.why[stop.order] = StopState.CONFIRM, problem
        elif r.alarms:
            self.state[stop.order], self.why[stop.order] = StopState.ALARM, alarm_words(self.lang, r.alarms)
        elif self.state[stop.order] in (StopState.NOT_YET, StopState.READ):
            self.state[stop.order] = StopState.READ

    def counts(self) -> dict[StopState, int]:
        with self.lock:
            out = dict.fromkeys(StopState, 0)
            for st in self.state.values():
                out[st] += 1
            return out

    def next_unread(self, n: int = 8) -> list[Stop]:
        with self.lock:
            return [s for s in self.stops if self.state[s.order] is StopState.NOT_YET][:n]

    def attention(self) -> list[tuple[Stop, StopState, str]]:
        with self.lock:
            return [(s, self.state[s.order], self.why.get(s.order, "")) for s in self.stops
                    if self.state[s.order] in (StopState.CONFIRM, StopState.ALARM)]  # fmt: skip

    def summary(self) -> str:
        c = self.counts()
        done = len(self.stops) - c[StopState.NOT_YET]
        minutes = (time.monotonic() - self.started) / 60
        return word(self.lang, "summary", route=self.route, done=done, total=len(self.stops), alarm=c[StopState.ALARM],
                    confirm=c[StopState.CONFIRM], manual=c[StopState.MANUAL], not_yet=c[StopState.NOT_YET],
                    heard=self.telegrams, minutes=number(self.lang, minutes, 1))  # fmt: skip


class ProgressSink:
    """The walk's sink: every reading the gateway pipeline keeps updates the route's progress."""

    def __init__(self, progress: RouteProgress) -> None:
        self.progress = progress

    def write(self, batch: Sequence[Reading]) -> None:
        self.progress.heard(batch)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
