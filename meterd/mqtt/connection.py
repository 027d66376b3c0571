"""Connecting to an MQTT broker with paho-mqtt 2.x (its public interface only): URLs, TLS, credentials,
reconnect with backoff (paho's own network thread, `loop_start`, reconnects)."""

from __future__ import annotations

import logging
import os
import ssl
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
    new_client(address, creds, "meterd-check")


def new_client(address: BrokerAddress, creds: Credentials, client_id: str, *, manual_ack: bool = False) -> Any:
    """A paho client set up for the broker (not connected yet)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
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
