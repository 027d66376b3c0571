"""Sans-IO Wireless M-Bus / M-Bus decoding (EN 13757-2/3/4/7, OMS)."""

from meterd.wmbus.decoder import Decoder, TelegramDict
from meterd.wmbus.errors import DecodeError
from meterd.wmbus.keys import KeyRing
from meterd.wmbus.signatures import SignatureCache

__all__ = ["DecodeError", "Decoder", "KeyRing", "SignatureCache", "TelegramDict"]
