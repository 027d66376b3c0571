"""Whether a password is good enough for the account view: long enough, not guessable (zxcvbn's estimate,
which knows common passwords, words, names, keyboard rows, sequences and repeats) and not the login.
Reasons are stable codes; the pages word them in the tenant's language."""

from __future__ import annotations

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: "safely unguessable" (about 10^8 guesses and more)
CHECKED_CHARS = 64  # the estimate costs more with length; a longer password is judged by its start


def weakness(password: str, login: str = "", email: str = "") -> str | None:
    """None for a good password, else why not: `short`, `long`, `login`, `guessable`."""
    if len(password) < MIN_LENGTH:
        return "short"
    if len(password) > MAX_LENGTH:
        return "long"
    folded = password.casefold()
    if any(mine and folded == mine.casefold() for mine in (login, email, email.split("@")[0])):
        return "login"  # a login with a few letters more is zxcvbn's: it knows the login
    from zxcvbn import zxcvbn

    inputs = [x for x in (login, email, "meterd", "iok", "zgm", "haslo", "wodomierz") if x]
    if int(zxcvbn(password[:CHECKED_CHARS], user_inputs=inputs)["score"]) < MIN_SCORE:
        return "guessable"
    return None
