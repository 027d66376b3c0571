"""Connecting to an MQTT broker with paho-mqtt 2.x: URLs, TLS, credentials, reconnect with backoff."""

from __future__ import annotations

import logging
import os
import select
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from meterd.errors import MeterdError

log = logging.getLogger("meterd.mqtt")
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30


class MqttError(MeterdError):
    code = "mqtt_error"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None = None

    def __str__(self) -> str:  # for logs: never a password
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """mqtt://[user@]host[:port] or mqtts://...; a password in the URL is refused (it would show in
    process lists and logs): it comes from a file or $METERD_MQTT_PASSWORD."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise MqttError(f"broker URL {url!r}: {e}") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise MqttError(f"broker URL {url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    if parts.password is not None:
        raise MqttError("broker URL: no password in the URL; use password_file or $METERD_MQTT_PASSWORD")
    if parts.path not in ("", "/") or parts.query:
        raise MqttError(f"broker URL {url!r}: no path or query expected")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls, unquote(parts.username) if parts.username else None)


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<{'set' if self.password else 'none'}>)"


def password_from_env() -> str | None:
    return os.environ.get("METERD_MQTT_PASSWORD") or None


def check_settings(address: BrokerAddress, creds: Credentials) -> None:
    """MqttError for settings a client cannot be set up with (TLS files missing or unreadable): called
    before a command opens its store, so a wrong setting changes nothing on disk."""
    new_client(address, creds, "meterd-check", v5=True)


def new_client(address: BrokerAddress, creds: Credentials, client_id: str, *, v5: bool, manual_ack: bool = False) -> Any:
    """A paho client set up for the broker (not connected yet)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from meterd.mqtt.client import BufferedClient

    client = BufferedClient(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else True,
        manual_ack=manual_ack,
    )
    username = creds.username or address.username
    if username:
        client.username_pw_set(username, creds.password)
    if address.tls:
        for path in (creds.ca_file, creds.cert_file, creds.key_file):
            if path and not os.access(path, os.R_OK):
                why = "cannot be read" if os.path.exists(path) else "no such file"
                raise MqttError(f"TLS set-up for {address}: {path}: {why}")
        try:
            client.tls_set(
                ca_certs=creds.ca_file, certfile=creds.cert_file, keyfile=creds.key_file, cert_reqs=ssl.CERT_REQUIRED
            )
        except (OSError, ssl.SSLError, ValueError) as e:
            raise MqttError(f"TLS set-up for {address}: {e}") from None
    client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
    return client


class NetworkLoop:
    """A paho client driven from one thread (no loop_start): `step` connects when there is no
    connection (trying again after a backoff of RECONNECT_MIN_S doubling to RECONNECT_MAX_S) and
    otherwise runs the client's network loop once. `on_lost` hears of a connection that broke. Waits
    end early when one of the `wake` file descriptors becomes readable (a process's command pipe)."""

    def __init__(self, client: Any, address: BrokerAddress, on_lost: Any) -> None:
        self.client = client
        self.address = address
        self.on_lost = on_lost
        self.open = False
        self._delay = float(RECONNECT_MIN_S)
        self._next_try = 0.0

    def step(self, stop: threading.Event, timeout: float, max_messages: int = 10_000, wake: Sequence[Any] = ()) -> bool:
        """True when the network loop ran on an open connection (reading up to `max_messages`)."""
        if not self.open:
            now = time.monotonic()
            if now < self._next_try:
                if wake:
                    select.select(list(wake), [], [], self._next_try - now)
                else:
                    stop.wait(self._next_try - now)
                return False
            try:
                self.client.reconnect()
                self.open, self._delay = True, float(RECONNECT_MIN_S)
            except (OSError, ValueError) as e:
                log.debug("broker %s: %s", self.address, e)
                self._next_try = time.monotonic() + self._delay
                self._delay = min(self._delay * 2, RECONNECT_MAX_S)
                return False
        if self.client.drive(timeout, max_messages, wake) != 0:  # the connection is gone: reconnect with backoff
            self.open = False
            self.on_lost(None, None, None, "connection lost")
            return False
        return True
