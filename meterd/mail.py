"""Sending the portal's e-mails (one-time login links, notices) over SMTP, as `[smtp]` configures it."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from meterd.errors import MeterdError

if TYPE_CHECKING:
    from meterd.config import SmtpSection


class MailError(MeterdError):
    code = "mail_failed"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer:
    """One SMTP connection per `send_all`; a refused recipient fails its mail, not the others."""

    def __init__(self, settings: SmtpSection) -> None:
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s,
                                                      context=ssl.create_default_context())  # fmt: skip
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
                if s.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            password = s.password()
            if s.username and password:
                smtp.login(s.username, password)
        except (OSError, smtplib.SMTPException) as e:
            raise MailError(f"SMTP server {s.host}:{s.port}: {_reason(e)}") from None
        return smtp

    def send_all(self, mails: list[Mail]) -> list[tuple[Mail, str | None]]:
        """Each mail with None when the server took it, else why not."""
        if not mails:
            return []
        smtp = self._connect()
        out: list[tuple[Mail, str | None]] = []
        try:
            for mail in mails:
                try:
                    smtp.send_message(self._message(mail))
                    out.append((mail, None))
                except (OSError, smtplib.SMTPException) as e:
                    out.append((mail, _reason(e)))
                    if isinstance(e, OSError | smtplib.SMTPServerDisconnected):
                        out += [(m, "the connection to the SMTP server was lost") for m in mails[len(out):]]
                        break
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        return out

    def send(self, mail: Mail) -> None:
        (_, error), = self.send_all([mail])
        if error is not None:
            raise MailError(f"mail to {mail.to}: {error}")

    def _message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.rsplit("@", 1)[-1].strip("> ") or "localhost")
        msg.set_content(mail.body)
        return msg


def _reason(e: Exception) -> str:
    if isinstance(e, smtplib.SMTPResponseException):
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {text}".strip()
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "recipient refused"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
