"""The password policy: what a desk password must be, checked wherever one is set (user
creation from the command line, the API and the users page, and any password change).

The rules, each refused with its reason in the message: at least ``MIN_LENGTH`` and at
most ``MAX_LENGTH`` characters; not only spaces; not one character repeated; not the
username or the person's name; not in the list of common passwords seen in breaches that
the zxcvbn package ships (30,000 of them, no network needed); and not otherwise easy to
guess by zxcvbn's estimate (patterns, keyboard runs, dates, words built from the username).
"""

from __future__ import annotations

from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from winback.errors import InvalidInput

MIN_LENGTH = 12
# Long passphrases are welcome; the cap keeps a request from making the server hash
# megabytes. The login form, the users page and the API all use this one number.
MAX_LENGTH = 200
# zxcvbn's estimate costs time that grows with length; the first 72 characters (its own
# default cap) decide whether a password is easy to guess: more characters only add to it.
_SCORED = 72
# zxcvbn's scores run 0-4; 3 means "safely unguessable: moderate protection from an
# offline attack" (about 10^8 guesses and up).
_LEAST_SCORE = 3


@cache
def _common() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, username: str = "", name: str = "") -> None:
    """Refuse ``password`` with InvalidInput saying why, else return."""
    length = len(password)
    if length < MIN_LENGTH:
        raise InvalidInput(
            f"the password is too short: {length} characters; use at least {MIN_LENGTH} "
            "(a few unrelated words make a good one)"
        )
    if length > MAX_LENGTH:
        raise InvalidInput(
            f"the password is too long: {length:,} characters; use at most {MAX_LENGTH}"
        )
    if not password.strip():
        raise InvalidInput("the password is only spaces; use letters, digits or words")
    if len(set(password)) == 1:
        raise InvalidInput("the password is one character repeated; use a varied one")
    folded = "".join(password.split()).casefold()
    for what, value in (("username", username), ("name", name)):
        if value and folded == "".join(value.split()).casefold():
            raise InvalidInput(f"the password is the user's {what}; choose something else")
    if password.casefold() in _common() or password.strip().casefold() in _common():
        raise InvalidInput(
            "the password is in a list of common passwords seen in breaches; choose another"
        )
    inputs = [value for value in (username, name, *name.split()) if value]
    estimate = zxcvbn(password[:_SCORED], user_inputs=inputs)
    if estimate["score"] < _LEAST_SCORE:
        feedback = estimate["feedback"]
        why = feedback.get("warning") or "it follows a pattern that is quick to guess"
        hint = " ".join(feedback.get("suggestions") or [])
        raise InvalidInput(
            f"the password is too easy to guess: {why.rstrip('.')}." + (f" {hint}" if hint else "")
        )
