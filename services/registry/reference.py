"""Case references a person can read aloud over the phone and type on a keypad.

A reference is six characters from an alphabet with no look-alikes (no 0/O, 1/I/L,
no B/8, G/6, S/5, Z/2, U/V, Q), plus a Luhn mod N check character that catches
every single-character slip and most swapped neighbours: ``K7MR-4XP``.
The keypad form is the same number written in decimal with a Luhn check digit
(10 digits), so a caller with a basic phone can enter it.
"""

from __future__ import annotations

import secrets
import unicodedata

ALPHABET = "23456789ACDEFHJKMNPRTWXY"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_N = len(ALPHABET)
PAYLOAD_LENGTH = 6
_SPACE = _N**PAYLOAD_LENGTH  # 191,102,976 references
KEYPAD_LENGTH = 10


def _luhn_sum(values: list[int], base: int, *, double_first: bool) -> int:
    total = 0
    double = double_first
    for value in reversed(values):
        addend = value * 2 if double else value
        total += addend // base + addend % base
        double = not double
    return total


def _check_char(payload: str) -> str:
    total = _luhn_sum([_INDEX[c] for c in payload], _N, double_first=True)
    return ALPHABET[(-total) % _N]


def _check_digit(digits: str) -> str:
    total = _luhn_sum([int(d) for d in digits], 10, double_first=True)
    return str((-total) % 10)


def _format(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def new_reference() -> tuple[str, str]:
    """A fresh random ``(reference, keypad_reference)`` pair."""
    return from_number(secrets.randbelow(_SPACE))


def from_number(number: int) -> tuple[str, str]:
    chars = []
    for _ in range(PAYLOAD_LENGTH):
        number, digit = divmod(number, _N)
        chars.append(ALPHABET[digit])
    payload = "".join(reversed(chars))
    return _format(payload + _check_char(payload)), keypad_form(payload)


def keypad_form(payload: str) -> str:
    number = 0
    for ch in payload:
        number = number * _N + _INDEX[ch]
    digits = f"{number:0{KEYPAD_LENGTH - 1}d}"
    return digits + _check_digit(digits)


def _plain(text: str) -> str:
    """``text`` without spaces or dashes, upper case, with every decimal digit of any
    script as its ASCII digit: a keypad or a phone set to Arabic may give ``٣`` for
    ``3``, and fullwidth ``３`` comes from East Asian input methods. Superscripts and
    other characters that are digits but not decimal (``²``) stay as they are, and so
    never match."""
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() else ch
        for ch in text.upper() if not ch.isspace() and ch != "-"
    )


def normalise(text: str) -> str | None:
    """The canonical reference for what someone typed or read out, or ``None`` if it is
    not a valid reference (wrong length, foreign character, or failed check). Never
    raises, whatever ``text`` holds."""
    code = _plain(text)
    if len(code) != PAYLOAD_LENGTH + 1 or any(ch not in _INDEX for ch in code):
        return None
    if _check_char(code[:-1]) != code[-1]:
        return None
    return _format(code)


def normalise_keypad(text: str) -> str | None:
    """The canonical keypad reference (ten ASCII digits), or ``None`` if ``text`` is not
    ten decimal digits of one reference with its check digit. Never raises."""
    digits = _plain(text)
    if len(digits) != KEYPAD_LENGTH or not (digits.isascii() and digits.isdigit()):
        return None
    if int(digits[:-1]) >= _SPACE:
        return None
    return digits if _check_digit(digits[:-1]) == digits[-1] else None
