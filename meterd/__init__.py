"""meterd: water-meter readings from wM-Bus and M-Bus meters to the IOK customer portal."""

__version__ = "0.1.0"
