"""Where readings go: the store, JSON lines, metrics (and MQTT), all behind one small interface."""

from meterd.sinks.base import Sink

__all__ = ["Sink"]
