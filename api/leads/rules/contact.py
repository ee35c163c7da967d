"""Phone numbers to E.164 and e-mail addresses to one canonical form, offline."""

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class InvalidContact(ValueError):
    """A phone number or e-mail address that cannot be a real one; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Contact:
    """A cleaned contact: E.164 phone and canonical e-mail, each ``None`` when not given."""

    phone_e164: str | None
    email: str | None


def normalise_phone(raw: str, *, default_region: str = "CN") -> str:
    """Return ``raw`` in E.164; a national number is read in ``default_region``.

    >>> normalise_phone("139 1234 5678")
    '+8613912345678'
    >>> normalise_phone("+1 (650) 253-0000")
    '+16502530000'
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as err:
        raise InvalidContact("invalid_phone", f"phone {raw!r} is not a phone number") from err
    if not phonenumbers.is_valid_number(number):
        raise InvalidContact("invalid_phone", f"phone {raw!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Return ``raw`` with surrounding space trimmed and its domain lower-cased (no DNS lookup).

    >>> normalise_email("  Li.Wei@Example.COM ")
    'Li.Wei@example.com'
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as err:
        raise InvalidContact("invalid_email", f"email {raw.strip()!r}: {err}") from err
    return str(checked.normalized)


def email_domain(email: str) -> str:
    """Return the lower-case domain of a normalised address."""
    return email.rpartition("@")[2].lower()
