"""A real SMTP server (aiosmtpd) on a loopback port of the test's own, and what it took."""

from __future__ import annotations

import socket
from email import message_from_bytes

from meterd.config import SmtpSection


class Inbox:
    """A real SMTP server (aiosmtpd) on a loopback port; every message it took."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, list[str], bytes]] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                inbox.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.handler = Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def restart(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def settings(self) -> SmtpSection:
        return SmtpSection(host="127.0.0.1", port=self.port, security="none", sender="IOK ZGM <iok@zgm.example>")

    def texts(self) -> list[str]:
        out = []
        for _, _, raw in self.messages:
            msg = message_from_bytes(raw)
            body = msg.get_payload(decode=True) if not msg.is_multipart() else msg.get_payload(0).get_payload(decode=True)  # type: ignore[union-attr]
            out.append(body.decode())  # type: ignore[union-attr]
        return out

    def stop(self) -> None:
        if self.controller.loop.is_running():
            self.controller.stop()
