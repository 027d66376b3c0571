"""paho-mqtt's client made cheap per message, driven by one thread of ours.

Measured on a gateway and an ingester, most of the cost of a message was paho's own, not the
protocol's: every packet read with three or four `recv` calls (the command byte, each byte of the
length, then the rest), every packet written with a `send` of its own and announced to its loop by a
byte on a socket pair, and for MQTT 5 a `Properties` object built for every PUBLISH and PUBACK
(its constructor fills two tables of thirty entries: 40 µs a message on this machine), though these
messages carry none. This client

- reads the socket 64 KiB at a time and serves paho's small reads from that buffer;
- queues what paho sends and writes it with as few `send` calls as it takes, on each turn of `drive`
  (which replaces paho's `loop`: select, read, write, keep-alive);
- decodes a QoS 1 PUBLISH without properties and a PUBACK without properties itself, and leaves
  every other packet to paho;
- sends a QoS 1 PUBLISH without properties straight into its write buffer (`publish_qos1`), for a
  caller that keeps its own record of what is unacknowledged (the gateway's publisher: its spool);
  paho keeps no copy of such a message and does not send it again after a reconnect: its caller does;
- takes the PUBACKs of those messages, and QoS 1 PUBLISHes without properties, straight from its
  read buffer when they stand there complete (paho reads every packet byte by byte).

Everything else (the protocol, sessions, acknowledgements, reconnecting) is paho's. It leans on
methods paho does not document (`_sock_recv`, `_sock_send`, `_sock_close`, `_handle_publish`,
`_handle_pubackcomp`, `_pack_remaining_length`, `_mid_generate`), as paho-mqtt 2.2 has them;
pyproject.toml holds paho to 2.2.x, and the MQTT tests run through all of it before a newer paho is
allowed.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

READ_CHUNK = 65536
_NO_PUBACK_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Message:
    """A QoS 1 message as `on_message` gets it from this client's own decoding (what paho's
    MQTTMessage would hold, without its machinery for outgoing messages)."""

    mid: int
    topic: str
    payload: bytes
    qos: int = 1
    dup: bool = False
    retain: bool = False


class BufferedClient(mqtt.Client):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()
        # with a "register write" callback paho queues packets instead of writing each at once
        self.on_socket_register_write = _nothing
        self._per_topic = False  # message_callback_add was used
        self._puback_reasons: dict[int, ReasonCode] = {}  # reason code → paho's object for it, made once
        self._own_mids: set[int] = set()  # sent by publish_qos1, not acknowledged yet

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._per_topic = True
        super().message_callback_add(sub, callback)

    # -- the socket, buffered ------------------------------------------------------------------

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(READ_CHUNK)  # BlockingIOError when there is nothing to read
            if not data:
                return data  # the broker closed the connection
            self._rbuf, self._rpos = data, 0
        end = self._rpos + bufsize
        piece = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return piece

    def _sock_send(self, buf: bytes | bytearray) -> int:
        self._wbuf += buf
        return len(buf)

    def _sock_close(self) -> None:
        """What is queued goes out before the socket closes (paho closes it right after queueing a
        DISCONNECT, and the acknowledgements before it must reach the broker); on a broken connection
        that fails at once."""
        sock: Any = self._sock
        if self._wbuf and sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.settimeout(1.0)
                sock.sendall(self._wbuf)
        self._rbuf, self._rpos = b"", 0
        self._wbuf.clear()
        self._own_mids.clear()  # their acknowledgements cannot come any more
        super()._sock_close()

    def buffered_input(self) -> bool:
        """Bytes already read from the socket that paho has not taken yet."""
        if self._rpos < len(self._rbuf):
            return True
        pending = getattr(self._sock, "pending", None)  # a TLS socket's decrypted bytes
        return bool(pending and pending())

    def want_write(self) -> bool:
        return bool(self._wbuf) or super().want_write()

    def loop_write(self) -> MQTTErrorCode:
        """paho's packets into the buffer, then the buffer to the socket in as few sends as it takes."""
        rc = super().loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not self._wbuf or self._sock is None:
            return rc
        try:
            while self._wbuf:
                sent = super()._sock_send(self._wbuf)
                if sent <= 0:
                    break
                del self._wbuf[:sent]
        except BlockingIOError:  # the socket's buffer is full: the rest goes when it is writable
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        except OSError:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- the two packets of every message, decoded without paho's property objects ------------------

    def _handle_publish(self) -> MQTTErrorCode:
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        delivered = self._deliver(header, packet)
        return super()._handle_publish() if delivered is None else delivered

    def _deliver(self, header: int, packet: bytes | bytearray | memoryview) -> MQTTErrorCode | None:
        """A QoS 1 PUBLISH without properties to `on_message` (and its PUBACK queued, without manual
        acknowledgements); None when it is not such a message, for paho's way."""
        qos = (header & 0x06) >> 1
        if qos != 1 or self._protocol != MQTTProtocolVersion.MQTTv5 or len(packet) < 5:
            return None
        length = int.from_bytes(packet[:2], "big")
        at = 2 + length
        if length == 0 or len(packet) < at + 3 or packet[at + 2] != 0:  # an alias or properties: paho's way
            return None
        on_message = self.on_message
        if on_message is None or self._per_topic:  # callbacks per topic: paho's way
            return None
        try:
            topic = bytes(packet[2:at]).decode()
        except UnicodeDecodeError:
            return None
        message = Message(int.from_bytes(packet[at : at + 2], "big"), topic, bytes(packet[at + 3 :]),
                          dup=bool(header & 0x08), retain=bool(header & 0x01))  # fmt: skip
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)  # type: ignore[arg-type]
            except Exception:
                if not self.suppress_exceptions:
                    raise
        if self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(message.mid)

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) not in (2, 3) or (len(packet) == 3 and self._protocol != MQTTProtocolVersion.MQTTv5):
            return super()._handle_pubackcomp(cmd)
        reason = self._puback_reason(packet[2] if len(packet) == 3 else 0)
        if reason is None:  # not a PUBACK reason code: paho's way, and its error
            return super()._handle_pubackcomp(cmd)
        mid = int.from_bytes(packet[:2], "big")
        if mid in self._own_mids:
            self._own_acked(mid, reason)
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, _NO_PUBACK_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _puback_reason(self, code: int) -> ReasonCode | None:
        reason = self._puback_reasons.get(code)
        if reason is None:
            try:
                reason = ReasonCode(PacketTypes.PUBACK, identifier=code)
            except Exception:
                return None
            self._puback_reasons[code] = reason
        return reason

    # -- QoS 1 messages whose caller keeps track of them -----------------------------------------------

    def publish_qos1(self, topic: str, payload: bytes) -> int | None:
        """Queue a QoS 1 PUBLISH without properties; its packet id, or None when not connected (the
        caller sends it again later). Its PUBACK goes to `on_publish` as paho's would; paho itself
        keeps no copy, so after a reconnect the caller sends again what was not acknowledged."""
        if not self.is_connected() or self._sock is None:
            return None
        if self._out_packet:  # paho's packets queued before this one go first, as they were sent first
            mqtt.Client.loop_write(self)
        name = topic.encode()
        mid = self._mid_generate()
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        head = len(name).to_bytes(2, "big") + name + mid.to_bytes(2, "big") + (b"\x00" if v5 else b"")
        packet = self._pack_remaining_length(bytearray(b"\x32"), len(head) + len(payload))  # paho's own
        self._wbuf += packet + head + payload
        self._own_mids.add(mid)
        with self._msgtime_mutex:
            self._last_msg_out = mqtt.time_func()
        return mid

    def _own_acked(self, mid: int, reason: ReasonCode) -> None:
        self._own_mids.discard(mid)
        on_publish = self.on_publish
        if on_publish is not None:
            with self._in_callback_mutex:
                try:
                    on_publish(self, self._userdata, mid, reason, _NO_PUBACK_PROPERTIES)  # type: ignore[call-arg]
                except Exception:
                    if not self.suppress_exceptions:
                        raise

    def _take_buffered(self, most: int) -> int:
        """Packets standing complete in the read buffer, between packets, handled here without paho's
        reading byte by byte: PUBACKs of publish_qos1 messages, and QoS 1 PUBLISHes without
        properties; up to `most` of them. How many were taken; the first other packet stops it."""
        if self._in_packet["command"] != 0:
            return 0
        buf, pos, end = self._rbuf, self._rpos, len(self._rbuf)
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        taken = 0
        while taken < most and pos + 2 <= end:
            header = buf[pos]
            if header == 0x40 and self._own_mids:  # PUBACK
                length = buf[pos + 1]
                if pos + 2 + length > end or not (length == 2 or (length == 3 and v5)):
                    break
                mid = (buf[pos + 2] << 8) | buf[pos + 3]
                reason = self._puback_reason(buf[pos + 4] if length == 3 else 0)
                if mid not in self._own_mids or reason is None:
                    break
                pos += 2 + length
                self._rpos = pos
                self._own_acked(mid, reason)
            elif header & 0xF0 == 0x30:  # PUBLISH
                size, shift, at = 0, 0, pos + 1
                while at < end and at < pos + 5:  # the remaining length, 7 bits a byte
                    size |= (buf[at] & 0x7F) << shift
                    shift += 7
                    at += 1
                    if not buf[at - 1] & 0x80:
                        break
                else:
                    break
                if at + size > end:
                    break
                packet = memoryview(buf)[at : at + size]
                if self._deliver(header, packet) is None:
                    break
                pos = at + size
                self._rpos = pos
            else:
                break
            taken += 1
        if taken:
            with self._msgtime_mutex:
                self._last_bytes_received = mqtt.time_func()
        return taken

    # -- driving it --------------------------------------------------------------------------------

    def drive(self, timeout: float, max_messages: int = 10_000, wake: Sequence[Any] = ()) -> MQTTErrorCode:
        """One turn of the network loop: wait up to `timeout` for the socket (or one of `wake`), read
        what came (up to `max_messages` packets), write what is queued, keep the connection alive.
        Not 0 when the connection is gone."""
        sock = self.socket()
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        if self.want_write():
            rc = self.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        wait = 0.0 if self.buffered_input() else timeout
        try:
            readable, _, _ = select.select([sock, *wake], [sock] if self.want_write() else [], [], wait)
        except (OSError, ValueError):  # the socket was closed under us
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if sock in readable or self.buffered_input():
            count = 0
            while count < max_messages:
                if self._rpos < len(self._rbuf):
                    count += self._take_buffered(max_messages - count)
                    if count >= max_messages or not self.buffered_input():
                        break
                rc = self.loop_read()
                count += 1
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return rc
                if not self.buffered_input():
                    break
        if self.want_write():
            rc = self.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return self.loop_misc()


def _nothing(_client: Any, _userdata: Any, _sock: Any) -> None:
    """paho's "the socket has something to write" callback: `drive` writes on every turn anyway."""
