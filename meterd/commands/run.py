"""`meterd run --config FILE`: the gateway service (receivers → store, Prometheus, systemd notify)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from meterd.errors import MeterdError

if TYPE_CHECKING:
    from meterd.config import Config
    from meterd.mqtt.connection import BrokerAddress, Credentials
    from meterd.mqtt.sink import MqttSink
    from meterd.sinks.base import Sink


class ServiceError(MeterdError):
    code = "service_error"


def cmd_run(args: argparse.Namespace) -> int:
    from meterd.collector import quiet_collector
    from meterd.config import load_config
    from meterd.gateway.notify import Notifier
    from meterd.gateway.service import Gateway
    from meterd.setup import build_decoder
    from meterd.store import Store
    from meterd.store.engine import data_dir
    from meterd.store.keys import current_keys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = load_config(args.config)
    if not config.receivers and not config.buses:
        raise ServiceError(f"{args.config}: no [[receiver]] or [[mbus]] table: nothing to listen to")
    for r in config.receivers:
        if not r.dongle or not r.port:
            raise ServiceError(f"{args.config}: receiver {r.name}: dongle and port are required")
    data = config.gateway.data or config.store.data
    if config.mqtt is not None:  # a bad broker URL or TLS file stops the start before the store is created
        from meterd.mqtt.connection import check_settings

        check_settings(*mqtt_settings(config))
    store = Store.open(data, config.database_url(), create=True)
    sinks: list[Sink] = [mqtt_sink(config, data_dir(data))] if config.mqtt is not None else []

    def make_decoder():  # type: ignore[no-untyped-def]
        decoder = build_decoder(
            argparse.Namespace(keys=None, config=args.config, insecure_keys=False), load_config(args.config)
        )
        with store.begin() as conn:
            for (maker, serial), key in current_keys(conn, store).items():
                if not decoder.keys.has(serial, maker):  # a key file's key wins over the store's
                    decoder.keys.add(serial, key, maker)
        return decoder

    gateway = Gateway(config, store, make_decoder, sinks, notifier=Notifier())
    if config.metrics is not None:
        from prometheus_client import start_http_server

        from meterd.metrics import GATEWAY

        host, port = config.metrics.address()
        try:
            start_http_server(port, addr=host, registry=GATEWAY)
        except OSError as e:
            raise ServiceError(f"[metrics] listen {config.metrics.listen}: {e.strerror}") from None
    stop = threading.Event()

    def on_stop(_signum: int, _frame: object) -> None:
        stop.set()

    def on_hup(_signum: int, _frame: object) -> None:
        gateway.reload_requested.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    quiet_collector()
    gateway.run(stop)
    totals = gateway.store_sink.totals
    logging.getLogger("meterd.gateway").info(
        "stopped: %d readings stored, %d duplicates, %d of unknown meters", totals.inserted, totals.duplicates,
        totals.unknown_meter,
    )  # fmt: skip
    store.close()
    return 0


def mqtt_settings(config: Config) -> tuple[BrokerAddress, Credentials]:
    """The broker and the credentials of [mqtt]."""
    from meterd.mqtt.connection import Credentials, parse_url

    m = config.mqtt
    assert m is not None
    return parse_url(m.url), Credentials(m.username, m.password(), m.ca_file, m.cert_file, m.key_file)


def mqtt_sink(config: Config, data: Path) -> MqttSink:
    """The MQTT publisher of [mqtt], its spool in the gateway's data directory."""
    from meterd.mqtt.sink import MqttSink

    m = config.mqtt
    assert m is not None
    return MqttSink(*mqtt_settings(config), config.gateway.name, data, client_id=m.client_id,
                    spool_max=m.spool_max, per_meter=m.per_meter, homeassistant=m.homeassistant)  # fmt: skip


def cmd_config(args: argparse.Namespace) -> int:
    from meterd.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return 2
    parts = [f"{len(config.receivers)} receivers"]
    if config.buses:
        parts.append(f"{len(config.buses)} M-Bus buses")
    if config.mqtt is not None:
        parts.append(f"MQTT to {config.mqtt.url}")
    print(f"{args.file}: ok ({', '.join(parts)}, gateway {config.gateway.name})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the gateway service (receivers, store, metrics, systemd notify)")
    p.add_argument("--config", required=True, help="TOML configuration, e.g. /etc/meterd/meterd.toml")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("config", help="check a configuration file")
    p.add_argument("action", choices=("check",))
    p.add_argument("file")
    p.set_defaults(func=cmd_config)
