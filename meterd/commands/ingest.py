"""`meterd ingest CAPTURE`: decode a hex capture file into the store, telling what was not stored and why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meterd.commands.storeopts import add_store_options, open_store
from meterd.errors import MeterdError
from meterd.gateway.capture import ingest_capture, write_unknown


class NothingDecoded(MeterdError):
    code = "nothing_decoded"


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
