"""The wired M-Bus master's logic, sans-IO: each operation is a generator that yields the requests to
put on the bus (`Request`) and is sent back what the bus answered (`Reply`); `meterd.drivers.
mbus_port` runs them over a serial port, the tests over a simulated bus. No I/O happens here.

- `read`: SND_NKE, then REQ_UD2 with the frame count bit toggling after every answered request, as
  many telegrams as the slave announces (DIF 1F), each request tried again on silence or garbage.
- `scan_primary`: SND_NKE to each primary address; E5 means a slave, garbage means two of them.
- `scan_secondary`: select by a mask of 8 digits (F for any digit) and narrow the mask digit by digit
  where more than one slave matches (their answers collide), EN 13757-3 annex on secondary search.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field

from meterd.drivers.mbus_frames import (
    ADDRESS_SELECTED,
    Answer,
    AnswerKind,
    more_records_follow,
    req_ud2,
    select_secondary,
    snd_nke,
)
from meterd.errors import MeterdError

TRIES = 3  # a request and two repetitions (EN 13757-2)
MAX_TELEGRAMS = 16  # a multi-telegram readout longer than this is refused


class MbusError(MeterdError):
    code = "mbus_error"


class NoAnswer(MbusError):
    code = "no_answer"


class Garbled(MbusError):
    code = "garbled_answer"


@dataclass(frozen=True)
class Request:
    data: bytes
    expect: AnswerKind  # ACK or FRAME: what ends the wait for an answer


@dataclass(frozen=True)
class Reply:
    answers: tuple[Answer, ...] = ()  # nothing: the bus stayed silent until the timeout

    @property
    def first(self) -> Answer | None:
        return self.answers[0] if self.answers else None

    def clean(self, kind: AnswerKind) -> Answer | None:
        """The one answer of the kind expected, or None (silence, garbage, or more than one answer)."""
        if len(self.answers) == 1 and self.answers[0].kind is kind:
            return self.answers[0]
        return None


Transaction = Generator[Request, Reply, "object"]


@dataclass
class Found:
    """A slave found by a scan."""

    address: int | None = None
    secondary_id: str | None = None
    frames: list[bytes] = field(default_factory=list)


def _try(data: bytes, expect: AnswerKind, tries: int = TRIES) -> Generator[Request, Reply, Reply]:
    """The request until it gets a clean answer of the kind expected; the last reply otherwise."""
    reply = Reply()
    for _ in range(tries):
        reply = yield Request(data, expect)
        if reply.clean(expect) is not None:
            return reply
    return reply


def read(address: int, *, reset: bool = True) -> Generator[Request, Reply, list[bytes]]:
    """All telegrams of one slave's readout (RSP_UD frames, in order)."""
    if reset and address != ADDRESS_SELECTED:
        yield from _try(snd_nke(address), AnswerKind.ACK, tries=1)  # some slaves do not answer it: go on
    frames: list[bytes] = []
    fcb = True
    while True:
        reply = yield from _try(req_ud2(address, fcb), AnswerKind.FRAME)
        answer = reply.clean(AnswerKind.FRAME)
        if answer is None:
            if not reply.answers:
                raise NoAnswer(f"no answer from address {address} after {TRIES} requests")
            reasons = ", ".join(a.reason or a.kind.value for a in reply.answers)
            raise Garbled(f"address {address} answered no valid frame after {TRIES} requests ({reasons})")
        frames.append(answer.data)
        if not more_records_follow(answer.data):
            return frames
        if len(frames) >= MAX_TELEGRAMS:
            raise Garbled(f"address {address} announces more than {MAX_TELEGRAMS} telegrams")
        fcb = not fcb


def scan_primary(
    addresses: Iterable[int],
    on_found: Callable[[int, str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Generator[Request, Reply, list[tuple[int, str]]]:
    """(address, "ok" or "collision") for every address a slave answered on; `on_found` hears of each
    the moment it answers, `on_progress` of (addresses tried, all)."""
    found: list[tuple[int, str]] = []
    todo = list(addresses)
    for n, address in enumerate(todo, start=1):
        reply = yield from _try(snd_nke(address), AnswerKind.ACK, tries=2)
        state = "ok" if reply.clean(AnswerKind.ACK) is not None else "collision" if reply.answers else None
        if state is not None:
            found.append((address, state))
            if on_found is not None:
                on_found(address, state)
        if on_progress is not None:
            on_progress(n, len(todo))
    return found


def select(secondary_id: str) -> Generator[Request, Reply, None]:
    """Select one slave by its secondary address (8 digits); it then answers on address FD."""
    reply = yield from _try(select_secondary(secondary_id), AnswerKind.ACK)
    if reply.clean(AnswerKind.ACK) is None:
        what = "no slave answered" if not reply.answers else "the answer was garbled"
        raise NoAnswer(f"selecting secondary address {secondary_id}: {what}")


def scan_secondary(
    mask: str = "FFFFFFFF",
    on_found: Callable[[Found], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Generator[Request, Reply, list[Found]]:
    """Every slave whose secondary address matches the mask, found by narrowing it digit by digit;
    `on_found` hears of each the moment it is found, `on_progress` of (masks tried, masks known so far)."""
    found: list[Found] = []
    pending = [mask.upper()]
    tried = 0
    while pending:
        current = pending.pop()
        tried += 1
        if on_progress is not None:
            on_progress(tried, tried + len(pending))
        # one try: silence is the common answer of a search (no slave matches), and each costs a timeout
        reply = yield from _try(select_secondary(current), AnswerKind.ACK, tries=1)
        if not reply.answers:
            continue  # nobody matches
        if reply.clean(AnswerKind.ACK) is not None:
            # an E5 from two slaves at once looks like one: their data answers tell them apart
            read_reply = yield from _try(req_ud2(ADDRESS_SELECTED, True), AnswerKind.FRAME, tries=2)
            answer = read_reply.clean(AnswerKind.FRAME)
            if answer is not None:
                found.append(Found(secondary_id=_identity(answer.data), frames=[answer.data]))
                if on_found is not None:
                    on_found(found[-1])
                continue
            if not read_reply.answers:
                continue
        if "F" not in current:
            continue  # two slaves with one secondary address: nothing to narrow
        at = current.index("F")
        pending.extend(current[:at] + digit + current[at + 1 :] for digit in "9876543210")
    return found


def _identity(frame: bytes) -> str:
    """The identification number in a RSP_UD with a long header (CI 72), as 8 digits."""
    if len(frame) < 11 or frame[6] != 0x72:
        return ""
    return frame[7:11][::-1].hex().upper()
