"""The configuration file (TOML, see config/meterd.example.toml and meterd/share/meterd.toml), validated with
pydantic and checked for what `run` needs (files that exist and are readable, a usable broker URL).

Every problem is reported as `FILE:LINE: key: problem`; unknown keys are errors. Secrets never stand
in the file itself: the MQTT password comes from `password_file` or `$METERD_MQTT_PASSWORD`, the
database URL may come from `$METERD_DATABASE_URL`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from meterd.errors import MeterdError
from meterd.prepaid.profile import PrepaidProfile
from meterd.validate.model import CheckConfig, Thresholds


class ConfigError(MeterdError):
    code = "bad_config"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


def _secret(env: str, path: str | None, section: str) -> str | None:
    """A password from the environment variable, else from its file; None without either."""
    value = os.environ.get(env)
    if value:
        return value
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"[{section}] password_file {path}: {e.strerror}") from None
    return None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StoreSection(_Section):
    data: str | None = None
    db: str | None = None


class ReceiverSection(_Section):
    name: str | None = None  # the receiver's name in metrics and logs (default: its dongle, numbered)
    dongle: str | None = None  # a name of meterd.drivers.dongles
    port: str | None = None
    mode: str = "c1,t1"
    silence_timeout_s: float = Field(600.0, gt=0)
    exclude_ports: list[str] = []
    amber_transparent: bool = False  # an Amber module configured for transparent output (no FF framing)
    rc1180_rssi_byte: bool = False  # whether an RC1180 appends an RSSI byte, when its memory cannot be read
    pace: float = Field(0.0, ge=0)  # hex captures: replay at this many times the recorded pace (0 = at once)
    source: Literal["radio", "walkby"] = "radio"

    @field_validator("dongle")
    @classmethod
    def _known_dongle(cls, value: str | None) -> str | None:
        from meterd.drivers.dongles import NAMES

        if value is not None and value not in NAMES:
            import difflib

            near = difflib.get_close_matches(value, NAMES, n=1, cutoff=0.6)
            raise ValueError(f"unknown dongle {value[:30]!r}{f'; did you mean {near[0]!r}?' if near else ''} "
                             f"(known: {', '.join(NAMES)})")  # fmt: skip
        return value

    def framer_options(self, dongle: str) -> dict[str, bool]:
        from meterd.drivers.dongles import DONGLES

        found = DONGLES.get(dongle)
        return found.framer_options(self) if found is not None else {}


class MbusSection(_Section):
    """A wired M-Bus (a level converter on a serial port) polled on a schedule: `meters` by primary
    address (0-250) or secondary address (8 digits)."""

    name: str | None = None
    port: str = Field(min_length=1)
    baud: Literal[300, 2400, 9600] = 2400
    interval_s: float = Field(900.0, ge=1)
    margin_ms: int = Field(150, ge=0, le=5000)  # beyond the standard's answer time (USB adapters)
    meters: list[str] = Field(min_length=1)

    @field_validator("meters")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for m in value:
            if not (m.isdigit() and (len(m) == 8 or (len(m) <= 3 and int(m) <= 250))):
                raise ValueError(f"meter {m!r}: a primary address (0-250) or a secondary address (8 digits)")
        return value


class GatewaySection(_Section):
    name: str = Field("gateway", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    data: str | None = None  # the SQLite store and the spool
    batch_max: int = Field(1000, ge=1, le=100_000)  # readings per store transaction at most
    batch_interval_s: float = Field(1.0, gt=0, le=60)  # a batch at least this often
    dedup_window_s: float = Field(60.0, gt=0)  # meters with neither clock nor access number
    validate_every_s: float = Field(3600.0, ge=0)  # the checks over the store (0: never)
    silent_after_h: float = Field(6.0, gt=0)  # a meter not heard this long counts as silent


class ForwardSection(_Section):
    """Which readings a gateway keeps: every one, only changes, or at most one per interval; readings
    with alarms always pass. `meters` sets it per meter id."""

    default: Literal["every", "change", "interval"] = "every"
    interval_min: float = Field(15.0, gt=0)
    meters: dict[str, Literal["every", "change", "interval"]] = {}


class MqttSection(_Section):
    url: str = Field(pattern=r"^mqtts?://[^/\s]+(:\d+)?/?$")
    username: str | None = None
    password_file: str | None = None
    client_id: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    homeassistant: bool = False  # Home Assistant discovery (implies per_meter)
    per_meter: bool = False  # each meter's latest reading, retained, on meterd/meter/<id>/<medium>/state
    spool_max: int = Field(1_000_000, ge=1000, le=100_000_000)  # readings kept for the broker at most

    def password(self) -> str | None:
        """From $METERD_MQTT_PASSWORD, else the password file; never from the configuration itself."""
        return _secret("METERD_MQTT_PASSWORD", self.password_file, "mqtt")


class SmtpSection(_Section):
    """Where the portal's e-mails (login links, notices) go out."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_file: str | None = None
    sender: str = Field("IOK ZGM <iok@localhost>", min_length=3)
    timeout_s: float = Field(20.0, gt=0, le=300)

    def password(self) -> str | None:
        """From $METERD_SMTP_PASSWORD, else the password file; never from the configuration itself."""
        return _secret("METERD_SMTP_PASSWORD", self.password_file, "smtp")


class PortalSection(_Section):
    # as tenants reach `meterd serve`; when set, requests for any other host are refused
    url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    link_hours: int = Field(72, ge=1, le=24 * 30)  # how long a one-time login link stays valid
    missing_days: int = Field(2, ge=1, le=60)  # a meter silent this long is a notice
    # reverse proxies (addresses or networks) whose X-Forwarded-For names the client; none by default
    trusted_proxies: list[str] = []

    @property
    def base_url(self) -> str:
        return (self.url or "http://127.0.0.1:8080").rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
        return value


class PrepaidSection(_Section):
    profiles: list[PrepaidProfile] = Field([], alias="profile")  # [[prepaid.profile]] tables
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("profiles", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class MetricsSection(_Section):
    listen: str = Field(pattern=r"^[^\s:]*:\d{1,5}$")

    @field_validator("listen")
    @classmethod
    def _port(cls, value: str) -> str:
        if not 0 < int(value.rpartition(":")[2]) < 65536:
            raise ValueError(f"port {value.rpartition(':')[2]} is out of range (1 to 65535)")
        return value

    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        if not 0 < int(port) < 65536:
            raise ConfigError(f"[metrics] listen {self.listen!r}: port out of range")
        return host or "127.0.0.1", int(port)


class KeysSection(_Section):
    file: str | None = None


class SiteSection(_Section):
    """Where the housing manager is: the time zone of the times people read (Polish spreadsheets, cut-off
    dates)."""

    timezone: str = "Europe/Warsaw"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is no time zone (e.g. Europe/Warsaw)") from None
        return value


class RetentionSection(_Section):
    raw_days: int | None = Field(None, ge=1)
    detail_days: int | None = Field(None, ge=1)


class Config(_Section):
    gateway: GatewaySection = GatewaySection()
    store: StoreSection = StoreSection()
    receivers: list[ReceiverSection] = Field([], alias="receiver")
    buses: list[MbusSection] = Field([], alias="mbus")
    forward: ForwardSection = ForwardSection()
    mqtt: MqttSection | None = None
    metrics: MetricsSection | None = None
    smtp: SmtpSection | None = None
    portal: PortalSection = PortalSection()
    prepaid: PrepaidSection = PrepaidSection()
    keys: KeysSection = KeysSection()
    checks: dict[str, dict[str, float | int]] = {}
    retention: RetentionSection = RetentionSection()
    site: SiteSection = SiteSection()
    drivers: dict[str, str] = {}  # meter ID → vendor decoder name ("oms" forces standard decoding)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @field_validator("receivers", "buses", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value  # [receiver] and [[receiver]] both

    @model_validator(mode="after")
    def _names(self) -> Config:
        seen: set[str] = set()
        for i, r in enumerate(self.receivers):
            if r.name is None:
                r.name = (
                    r.dongle if r.dongle and all(x.dongle != r.dongle for x in self.receivers[:i]) else f"{r.dongle}{i}"
                )
            if r.name in seen:
                raise ValueError(f"receiver name {r.name!r} is used twice")
            seen.add(r.name)
        for i, b in enumerate(self.buses):
            b.name = b.name or f"mbus{i}"
            if b.name in seen:
                raise ValueError(f"receiver name {b.name!r} is used twice")
            seen.add(b.name)
        return self

    @property
    def receiver(self) -> ReceiverSection:
        """The first receiver (the one `meterd listen` takes from the file)."""
        return self.receivers[0] if self.receivers else ReceiverSection()

    def check_config(self) -> CheckConfig:
        """Thresholds per meter class; unset values keep their defaults."""
        base = CheckConfig()
        try:
            cold = Thresholds(**{**base.cold.model_dump(), **self.checks.get("cold", {})})
            warm = Thresholds(**{**base.warm.model_dump(), **self.checks.get("warm", {})})
        except ValidationError as e:
            raise ConfigError(f"[checks]: {e}") from None
        return CheckConfig(cold=cold, warm=warm)

    def database_url(self) -> str | None:
        return os.environ.get("METERD_DATABASE_URL") or self.store.db


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {p}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = re.search(r"line (\d+)", str(e))
        raise ConfigError(f"{p}:{line.group(1) if line else 1}: {str(e).split(' (at')[0]}") from None
    found: list[tuple[int, str]] = []
    lines = KeyLines(text)
    config: Config | None = None
    try:
        config = Config(**data)
    except ValidationError as e:
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"]) or "(file)"
            found.append((lines.line_of(err["loc"]), f"{key}: {_in_words(err, data)}"))
    if config is not None:
        try:
            config.check_config()
        except ConfigError as e:
            found.append((lines.line_of(("checks",)), e.message))
    found += [(lines.line_of(loc), f"{'.'.join(loc)}: {why}") for loc, why in runtime_problems(data)]
    if found or config is None:
        problems = [f"{p}:{line}: {what}" for line, what in sorted(found, key=lambda x: x[0])]
        raise ConfigError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), problems)
    return config


# what a key must look like, in words (pydantic would show the regular expression)
_FORMS = {
    ("gateway", "name"): "letters, digits, '.', '_' and '-' only (it becomes part of MQTT topics), at most 64",
    ("mqtt", "url"): "a broker address: mqtt://host[:port] or mqtts://host[:port]",
    ("metrics", "listen"): "HOST:PORT, e.g. 127.0.0.1:9108",
    ("portal", "url"): "the portal's address as tenants reach it: https://host[/path]",
}


def _in_words(err: Any, data: dict[str, Any]) -> str:
    """pydantic's message, said for people: an unknown key with the nearest known one, a pattern as the
    form it stands for."""
    loc = tuple(str(x) for x in err["loc"])
    if err["type"] == "extra_forbidden":
        import difflib

        model: Any = Config
        for part in loc[:-1]:
            field = model.model_fields.get(part) or next(
                (f for f in model.model_fields.values() if f.alias == part), None)  # fmt: skip
            if field is None:
                break
            ann = field.annotation
            inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
            if not inner:
                break
            model = inner[0]
        known = [f.alias or n for n, f in model.model_fields.items()]
        near = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        return f"unknown key{f'; did you mean {near[0]!r}?' if near else ''} (known: {', '.join(sorted(known))})"
    if err["type"] == "string_pattern_mismatch":
        plain = tuple(x for x in loc if not x.isdigit())[-2:]
        form = _FORMS.get((plain[0], plain[-1]), "in the expected form")
        return f"{err['input']!r} is not {form}"
    if err["type"] == "finite_number":
        return "not a finite number"
    return str(err["msg"]).removeprefix("Value error, ")


def runtime_problems(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """What `run` would trip over that the schema cannot see, from the file's own values (so that they
    are found even when the schema refused something else): files that are missing, unreadable or
    (for secrets) readable by others, a broker URL it cannot use, receivers without dongle or port.
    (key path, problem)."""
    out: list[tuple[tuple[str, ...], str]] = []

    def table(name: str) -> dict[str, Any]:
        value = data.get(name)
        return value if isinstance(value, dict) else {}

    def need(path: object, loc: tuple[str, ...], *, secret: bool = False) -> None:
        if not isinstance(path, str) or not path:
            return
        f = Path(path)
        if not f.exists():
            out.append((loc, f"{path}: no such file"))
        elif not f.is_file() or not os.access(f, os.R_OK):
            out.append((loc, f"{path}: cannot be read by this user"))
        elif secret and f.stat().st_mode & 0o077:
            out.append((loc, f"{path} is readable by group or others: chmod 600 {path}"))

    need(table("keys").get("file"), ("keys", "file"), secret=True)
    mqtt = table("mqtt")
    if isinstance(mqtt.get("url"), str) and mqtt["url"].startswith(("mqtt://", "mqtts://")):
        from meterd.mqtt.connection import MqttError, parse_url

        try:
            parse_url(mqtt["url"])
        except MqttError as e:
            out.append((("mqtt", "url"), e.message))
    for name in ("password_file", "ca_file", "cert_file", "key_file"):
        need(mqtt.get(name), ("mqtt", name))
    need(table("smtp").get("password_file"), ("smtp", "password_file"))
    receivers = data.get("receiver", [])
    for i, r in enumerate([receivers] if isinstance(receivers, dict) else receivers if isinstance(receivers, list) else []):
        if isinstance(r, dict):
            for name in ("dongle", "port"):
                if not r.get(name):
                    out.append((("receiver", str(i), name), f"{name} is required"))
    return out


class KeyLines:
    """Where each key of a TOML text stands (tomllib gives no positions): table headers and `key =`
    lines, with arrays of tables counted, so that an error's location becomes a line number."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    _KEY = re.compile(r'^\s*("[^"]*"|[A-Za-z0-9_.-]+)\s*=')

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                name = header.group(2).replace('"', "")
                parts = tuple(name.split("."))
                if header.group(1) == "[[":
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    parts = (*parts, str(index))
                table = parts
                self.lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                self.lines.setdefault((*table, key.group(1).strip('"')), number)

    def line_of(self, loc: tuple[int | str, ...]) -> int:
        path = tuple("receiver" if str(x) == "receivers" else str(x) for x in loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1
