"""Junk rules: every rejected lead is kept with a machine code and a human reason.

Rules run in a fixed order and the first one that fires is the reason, so the same input is
always rejected for the same reason: no contact, invalid phone, invalid e-mail, test or
disposable contact, fake name, blocked word.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from api.leads.rules.contact import (
    Contact,
    InvalidContact,
    email_domain,
    normalise_email,
    normalise_phone,
)

DISPOSABLE_DOMAINS = frozenset(
    {
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "tempmail.com",
        "temp-mail.org",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
    }
)
TEST_DOMAINS = frozenset({"example.com", "example.org", "example.net", "test.com", "test.cn"})
FAKE_NAMES = frozenset(
    {"test", "testing", "tester", "asdf", "asdfgh", "qwer", "qwerty", "aaa", "abc", "xxx",
     "foo", "bar", "none", "null", "na", "n/a", "测试", "test test", "某某"}
)  # fmt: skip
BLOCKED_WORDS = frozenset({"casino", "viagra", "loan offer", "博彩", "赌博", "代开发票", "贷款"})
# 13800138000 is the number printed in Chinese handset manuals and every form-filling tutorial.
TEST_PHONES = frozenset({"+8613800138000", "+8613888888888", "+8612345678901"})
_SAME_DIGIT = re.compile(r"^\+86(\d)\1{10}$|^\+861(\d)\2{9}$")
_TEST_LOCAL = re.compile(r"^(test|testing|fake|asdf|noreply|no-reply|none)\d*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class JunkParams:
    """What counts as junk; the defaults suit Chinese consumer leads."""

    default_region: str = "CN"
    disposable_domains: frozenset[str] = DISPOSABLE_DOMAINS
    test_domains: frozenset[str] = TEST_DOMAINS
    fake_names: frozenset[str] = FAKE_NAMES
    blocked_words: frozenset[str] = BLOCKED_WORDS
    test_phones: frozenset[str] = TEST_PHONES

    def __post_init__(self) -> None:
        if len(self.default_region) != 2 or not self.default_region.isupper():
            raise ValueError(
                f"default_region must be an ISO 3166 code, got {self.default_region!r}"
            )


DEFAULT_JUNK = JunkParams()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a lead is junk: a stable ``code`` for machines and a ``reason`` for people."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A cleaned lead's contact and, for junk, the reason it is rejected."""

    contact: Contact
    rejection: Rejection | None = field(default=None)


def clean(
    *,
    name: str | None,
    phone: str | None,
    email: str | None,
    texts: Iterable[str | None] = (),
    params: JunkParams = DEFAULT_JUNK,
) -> Cleaned:
    """Normalise a lead's contact and decide whether it is junk (first rule that fires wins).

    >>> clean(name="Li Wei", phone="13912345678", email=None).contact.phone_e164
    '+8613912345678'
    >>> clean(name="asdf", phone="13912345678", email=None).rejection.code
    'fake_name'
    """
    phone, email = _blank_to_none(phone), _blank_to_none(email)
    if phone is None and email is None:
        return Cleaned(Contact(None, None), Rejection("no_contact", "neither phone nor e-mail"))
    try:
        phone_e164 = normalise_phone(phone, default_region=params.default_region) if phone else None
        canonical_email = normalise_email(email) if email else None
    except InvalidContact as err:
        return Cleaned(Contact(None, None), Rejection(err.code, str(err)))
    contact = Contact(phone_e164, canonical_email)
    rejection = (
        _test_contact(contact, params)
        or _fake_name(name, params)
        or _blocked_word([name, *texts], params)
    )
    return Cleaned(contact, rejection)


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _test_contact(contact: Contact, params: JunkParams) -> Rejection | None:
    if contact.phone_e164 is not None and (
        contact.phone_e164 in params.test_phones or _SAME_DIGIT.match(contact.phone_e164)
    ):
        reason = f"phone {contact.phone_e164} is a test or placeholder number"
        return Rejection("test_contact", reason)
    if contact.email is None:
        return None
    domain = email_domain(contact.email)
    if domain in params.disposable_domains:
        return Rejection("disposable_email", f"e-mail domain {domain} is a disposable mailbox")
    local = contact.email.rpartition("@")[0]
    if domain in params.test_domains or _TEST_LOCAL.match(local):
        return Rejection("test_contact", f"e-mail {contact.email} is a test address")
    return None


def _fake_name(name: str | None, params: JunkParams) -> Rejection | None:
    if name is None:
        return None
    folded = " ".join(name.split()).casefold()
    if folded in params.fake_names or (len(folded) >= 3 and len(set(folded)) == 1):
        return Rejection("fake_name", f"name {name.strip()!r} is not a real name")
    return None


def _blocked_word(texts: Iterable[str | None], params: JunkParams) -> Rejection | None:
    for text in texts:
        folded = (text or "").casefold()
        for word in sorted(params.blocked_words):
            if word in folded:
                return Rejection("blocked_word", f"contains the blocked word {word!r}")
    return None
