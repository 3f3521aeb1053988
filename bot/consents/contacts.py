"""Contact addresses as the shop gives them: e-mail syntax and phone numbers as E.164."""

from __future__ import annotations

import re
import unicodedata

MAX_EMAIL = 254  # RFC 5321's path limit less the angle brackets
# A pragmatic address: a local part of atom characters and dots, and a domain of LDH labels
# with a dot; no quoted strings, comments or IP literals (which no shop form produces and
# mailers mangle). Dots may be doubled or end the local part: Japanese mobile carriers
# issued such addresses for years, and their owners still receive mail at them.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+[A-Za-z]{{2,63}}"
_EMAIL = re.compile(rf"\A({_LOCAL})@({_DOMAIN})\Z")
EMAIL_PATTERN = rf"^{_LOCAL}@{_DOMAIN}$"  # the same grammar, for the API document
# What the shop API accepts (the service itself also takes full-width digits and brackets).
PHONE_PATTERN = r"^(\+[1-9][0-9]{7,14}|0[789]0[- ]?[0-9]{4}[- ]?[0-9]{4})$"
_E164 = re.compile(r"\A\+[1-9][0-9]{7,14}\Z")
# A Japanese mobile number in national form: 070, 080 or 090 and eight digits.
_JP_MOBILE = re.compile(r"\A0([789]0[0-9]{8})\Z")
_SEPARATORS = re.compile(r"[\s\-()‐‑‒–—―ー−]")

EMAIL_WHAT = "an e-mail address such as hanako@example.jp"
PHONE_WHAT = "a phone number in E.164 (+819012345678) or a Japanese mobile number (09012345678)"


class ContactError(ValueError):
    """An address the service cannot use; the message says why."""


def normalise_email(value: str) -> str:
    """The address with its domain in lower case; ContactError if it is not one."""
    text = value.strip()
    match = _EMAIL.match(text)
    if len(text) > MAX_EMAIL or match is None:
        raise ContactError(f"must be {EMAIL_WHAT}")
    return f"{match[1]}@{match[2].lower()}"


def normalise_phone(value: str) -> str:
    """The number as E.164; full-width digits, spaces, hyphens and brackets are allowed
    around it, and 070/080/090 numbers become +8170/+8180/+8190 numbers."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", value).strip())
    if _E164.match(text):
        return text
    match = _JP_MOBILE.match(text)
    if match:
        return "+81" + match[1]
    raise ContactError(f"must be {PHONE_WHAT}")
