"""Consent records and member contacts (e-mail, phone): the service the engine asks."""

from bot.consents.contacts import ContactError, normalise_email, normalise_phone
from bot.consents.service import (
    KEEP,
    MARKETING,
    Contact,
    contact_of,
    contacts_of,
    current_record,
    history,
    mark_undeliverable,
    marketing_consent,
    marketing_consents,
    record_consent,
    set_contact,
)

__all__ = [
    "KEEP",
    "MARKETING",
    "Contact",
    "ContactError",
    "contact_of",
    "contacts_of",
    "current_record",
    "history",
    "mark_undeliverable",
    "marketing_consent",
    "marketing_consents",
    "normalise_email",
    "normalise_phone",
    "record_consent",
    "set_contact",
]
