"""`meterd ingest CAPTURE`: decode a hex capture file into the store, telling what was not stored and why."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from meterd.commands.storeopts import add_store_options, open_store
from meterd.errors import MeterdError
from meterd.ids import meter_label

if TYPE_CHECKING:  # the store is imported only when the command runs
    from meterd.config import Config
    from meterd.store import Store
    from meterd.store.ingest import IngestResult, ReadingIn

BATCH = 10_000
SHOWN = 5


class NothingDecoded(MeterdError):
    code = "nothing_decoded"


@dataclass
class IngestReport:
    stored: IngestResult  # totals of the store's batches
    telegrams: int = 0
    decoded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    unknown: Counter[tuple[str, str]] = field(default_factory=Counter)  # (manufacturer, serial) → readings
    heard_twice: int = 0  # the same reading again in the capture (dropped before the store, as a gateway does)
    not_forwarded: int = 0  # left out by the configuration's [forward] policy

    def problem(self, where: str, code: str, message: str) -> None:
        self.errors[code] += 1
        if len(self.first_errors) < SHOWN:
            self.first_errors.append(f"{where}: [{code}] {message}")

    def summary(self) -> str:
        parts = [
            f"telegrams {self.telegrams}",
            f"decoded {self.decoded}",
            f"stored {self.stored.inserted}",
            f"duplicates {self.stored.duplicates + self.heard_twice}",
            f"unknown_meter {self.stored.unknown_meter}",
            f"errors {sum(self.errors.values())}",
        ]
        if self.not_forwarded:
            parts.append(f"not_forwarded {self.not_forwarded}")
        return ", ".join(parts)

    def details(self, err: IO[str]) -> None:
        if self.errors:
            err.write("not stored, by reason: " + ", ".join(f"{c} {n}" for c, n in self.errors.most_common()) + "\n")
            for line in self.first_errors:
                err.write(f"  {line}\n")
        if self.unknown:
            names = ", ".join(f"{meter_label(*m)} ({n})" for m, n in sorted(self.unknown.items(), key=_by_serial)[:20])
            more = f" and {len(self.unknown) - 20} more" if len(self.unknown) > 20 else ""
            err.write(f"meters not in the register (readings not stored): {names}{more}\n")


def ingest_capture(
    store: Store,
    path: Path,
    keys_file: Path | None,
    gateway: str,
    insecure: bool = False,
    encoding: str = "utf-8",
    config: Config | None = None,
) -> IngestReport:
    """Decode a hex capture with the store's keys (plus a key file) and store its readings in batches,
    through the gateway's pipeline (meterd.gateway.pipeline: prepaid profiles, duplicates, the [forward]
    policy of `config`)."""
    from meterd.config import Config
    from meterd.drivers.frame import FramingError
    from meterd.drivers.hexfile import parse_line
    from meterd.gateway.pipeline import Heard, Outcome, Pipeline
    from meterd.keyfile import load_keys
    from meterd.metrics import READINGS
    from meterd.sinks.store import to_store
    from meterd.store.ingest import IngestResult, TimeWindow, ingest
    from meterd.store.keys import current_keys
    from meterd.store.state import DecoderState, load_decoder_state, save_decoder_state
    from meterd.textinput import TextFile
    from meterd.wmbus import Decoder
    from meterd.wmbus.result import Failure

    with store.begin() as conn:
        keys = current_keys(conn, store)
        state = load_decoder_state(conn)
    if keys_file is not None:
        keys.update(load_keys(keys_file, allow_insecure=insecure))
    decoder = Decoder(keys)
    decoder.restore_state(state["signatures"], state["counters"])
    report = IngestReport(IngestResult())
    pipeline = Pipeline(config or Config(), gateway)
    window = TimeWindow.around(int(time.time()))
    source = TextFile(path, encoding)
    batch: list[ReadingIn] = []

    def flush() -> None:
        with store.begin() as conn:
            result = ingest(conn, batch)
        report.stored.add(result)
        report.unknown.update(r.identity for r in batch if r.identity in result.unknown_meters)
        batch.clear()

    for line in source.lines():
        item = parse_line(line)
        if item is None:
            continue
        report.telegrams += 1
        where = f"{path}:{source.line}"
        if isinstance(item, FramingError):
            report.problem(where, item.code, item.message)
            continue
        received = int(item.received_at.timestamp())
        if not window.holds(received):
            report.problem(where, "bad_time", f"received at {item.received_at.isoformat()}: far from the present")
            continue
        decoded = decoder.decode_bytes(item.data)
        if isinstance(decoded, Failure):
            report.problem(where, decoded.code, decoded.message)
            continue
        reading = pipeline.reading(decoded, Heard(received, None, item.rssi_dbm, item.data, "capture"), "capture")
        if reading is None:
            report.problem(where, "no_meter_id", "telegram names no meter")
            continue
        if not window.holds(reading.measured_at):
            report.problem(where, "bad_time", "the meter's clock is far from the present")
            continue
        report.decoded += 1
        outcome = pipeline.keep(reading)
        if outcome is Outcome.DUPLICATE:
            report.heard_twice += 1
            continue
        if outcome is Outcome.NOT_FORWARDED:
            report.not_forwarded += 1
            continue
        batch.append(to_store(reading))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with store.begin() as conn:
        save_decoder_state(conn, DecoderState(**decoder.export_state()))  # type: ignore[typeddict-item]
    totals = report.stored
    counted = (("stored", totals.inserted), ("duplicates", totals.duplicates), ("unknown_meter", totals.unknown_meter),
               ("duplicate_heard", report.heard_twice), ("not_forwarded", report.not_forwarded))  # fmt: skip
    for name, n in counted:
        READINGS.labels(outcome=name).inc(n)
    return report


def write_unknown(path: str, report: IngestReport) -> None:
    from meterd.fileio import atomic_text

    with atomic_text(path) as f:
        f.write("meter_id,manufacturer,readings\n")
        for (maker, serial), n in sorted(report.unknown.items(), key=_by_serial):
            f.write(f"{serial},{maker},{n}\n")


def _by_serial(item: tuple[tuple[str, str], int]) -> tuple[str, str]:
    return item[0][1], item[0][0]


def cmd_ingest_mqtt(args: argparse.Namespace) -> int:
    """The central ingester: runs until SIGTERM or SIGINT, then stores and acknowledges what arrived."""
    import logging
    import os
    import signal
    import socket
    import threading

    from meterd.collector import quiet_collector
    from meterd.mqtt.connection import Credentials, MqttError, check_settings, parse_url, password_from_env
    from meterd.mqtt.ingester import Ingester

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    address = parse_url(args.mqtt)
    password = password_from_env()
    if password is None and args.mqtt_password_file:
        try:
            password = Path(args.mqtt_password_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise MqttError(f"--mqtt-password-file {args.mqtt_password_file}: {e.strerror}") from None
    creds = Credentials(args.mqtt_username, password, args.ca_file, args.cert_file, args.key_file)
    check_settings(address, creds)  # a bad TLS file stops the start before the store is created
    store = open_store(args, create=True)
    # unique per process: nothing rests on an ingester's session, and two ingesters on one host must
    # never take each other's
    client_id = args.client_id or f"meterd-ingest-{socket.gethostname()}-{os.getpid()}"
    ingester = Ingester(address, creds, store, client_id)
    if args.metrics:
        from prometheus_client import start_http_server

        from meterd.metrics import CENTRAL

        host, _, port = args.metrics.rpartition(":")
        try:
            start_http_server(int(port), addr=host or "127.0.0.1", registry=CENTRAL)
        except (OSError, ValueError) as e:
            raise MqttError(f"--metrics {args.metrics}: {e}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    quiet_collector()
    ingester.run(stop)
    totals = ingester.stored
    print(f"stored {totals.inserted}, duplicates {totals.duplicates}, conflicts {totals.conflicts}, "
          f"unknown_meter {totals.unknown_meter}, bad_time {totals.bad_time}, rejected {ingester.rejected}")  # fmt: skip
    store.close()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from meterd.commands.storeopts import BadArgument
    from meterd.textinput import check_encoding

    if args.mqtt:
        if args.capture:
            raise BadArgument("give a capture file or --mqtt URL, not both")
        return cmd_ingest_mqtt(args)
    if not args.capture:
        raise BadArgument("give a capture file to ingest, or --mqtt URL to ingest from a broker")

    encoding = check_encoding(args.encoding)
    if args.unknown_out:
        from meterd.fileio import check_target

        check_target(Path(args.unknown_out))  # a bad --unknown-out fails before anything is stored
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", args.gateway):
        raise BadArgument(f"--gateway {args.gateway[:70]!r}: 1 to 64 letters, digits, '-', '_' or '.'")
    config = None
    if args.config:
        from meterd.config import load_config

        config = load_config(args.config)  # [prepaid] profiles, [forward], [gateway] dedup_window_s
    report = ingest_capture(
        open_store(args, create=True), Path(args.capture), Path(args.keys) if args.keys else None, args.gateway,
        args.insecure_keys, encoding, config,
    )  # fmt: skip
    print(report.summary())
    if args.unknown_out:
        write_unknown(args.unknown_out, report)
    if not report.telegrams:
        raise NothingDecoded(f"{args.capture} holds no telegrams")
    if not report.decoded:
        reasons = ", ".join(f"{c} {n}" for c, n in report.errors.most_common())
        raise NothingDecoded(f"nothing in {args.capture} could be decoded ({reasons}); first: {report.first_errors[0]}")
    report.details(sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ingest", help="decode a hex capture into the store, or ingest readings from MQTT")
    p.add_argument("capture", nargs="?", help="hex capture file")
    p.add_argument("--keys", help="CSV meter_id,key in addition to the store's keys")
    p.add_argument("--insecure-keys", action="store_true")
    p.add_argument("--gateway", default="capture", help="the name the readings are stored under (default capture)")
    p.add_argument("--config", help="TOML configuration whose [prepaid] profiles, [forward] policy and [gateway] "
                   "dedup_window_s apply, as in meterd run")  # fmt: skip
    p.add_argument("--encoding", default="utf-8", help="capture file encoding (default utf-8)")
    p.add_argument("--unknown-out", help="write the meters not in the register to this CSV (meter_id,manufacturer,readings)")
    m = p.add_argument_group("central ingest from MQTT (runs until SIGTERM)")
    m.add_argument("--mqtt", metavar="URL", help="broker, mqtt://host[:port] or mqtts://host[:port]")
    m.add_argument("--client-id", help="MQTT client id (default meterd-ingest-HOSTNAME-PID, one of its own for "
                   "every process; the session ends with the connection)")  # fmt: skip
    m.add_argument("--mqtt-username")
    m.add_argument("--mqtt-password-file", help="file holding the password ($METERD_MQTT_PASSWORD wins)")
    m.add_argument("--ca-file", help="CA certificate for mqtts://")
    m.add_argument("--cert-file", help="client certificate for mqtts://")
    m.add_argument("--key-file", help="client certificate's key")
    m.add_argument("--metrics", metavar="HOST:PORT", help="Prometheus metrics endpoint")
    add_store_options(p)
    p.set_defaults(func=cmd_ingest)
