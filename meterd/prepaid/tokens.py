"""Top-up tokens as the vending system issues them. meterd checks their syntax only: producing or
reading a token's content (STS and the like) is the licensed vending system's business."""

from __future__ import annotations

import re

from meterd.errors import MeterdError

STS_DIGITS = 20
_STS = re.compile(r"^\d{20}$")


class BadToken(MeterdError):
    code = "bad_token"


def normalise_token(text: str) -> str:
    """An STS token: 20 digits, printed in groups of four (spaces or dashes between them are dropped)."""
    token = re.sub(r"[\s-]", "", text)
    if not _STS.match(token):
        raise BadToken(f"token {text[:40]!r}: an STS token is {STS_DIGITS} digits")
    return token


def grouped(token: str) -> str:
    return " ".join(token[i : i + 4] for i in range(0, len(token), 4))
