"""The shop's side of consent and contacts: `POST /api/v1/consents`,
`PUT /api/v1/members/{member_id}/contact`, and what `GET /api/v1/members/{member_id}` shows
of them (the contact, the current consent per channel, the history). Consent records and
contacts are erased with the member, except what 特定電子メール法 asks a sender to keep (see
`erasure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from flask import Response, jsonify, request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.consents import service
from bot.consents.contacts import (
    EMAIL_PATTERN,
    EMAIL_WHAT,
    MAX_EMAIL,
    PHONE_PATTERN,
    PHONE_WHAT,
    ContactError,
    normalise_email,
    normalise_phone,
)
from bot.consents.erasure import erase_member_consents
from bot.core.services import current_services
from bot.linking.members import MemberHooks
from bot.linking.schemas import MEMBER_PATH_PARAM, PATTERNS, MemberId, member_id_param
from bot.models import ConsentRecord, MemberContact
from bot.shop_api.api import ShopApi, json_body, shop_endpoint
from bot.shop_api.errors import ApiError
from bot.shop_api.idempotency import KEY_HEADER
from bot.shop_api.openapi import (
    common_errors,
    component_schemas,
    error,
    json_request,
    json_response,
    signed,
)
from bot.shop_api.validation import describe, first_error

# A shop's clock may run a little ahead of ours; more than this is a wrong date.
FUTURE_SKEW = timedelta(minutes=5)
EARLIEST_YEAR, MAX_YEAR = 2000, 2999
TIME_PATTERN = r"^2[0-9]{3}-"  # the document's way of saying: a year from 2000 to 2999
MAX_HISTORY = 500  # newest records shown by GET /members/{id}
SOURCE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
SOURCE_WHAT = "a lower-case name such as checkout_checkbox (letters, digits, _; at most 64)"

MAX_EVIDENCE_FIELDS = 16
EVIDENCE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"
MAX_EVIDENCE_TEXT = 200


def _aware_time(value: object) -> datetime:
    what = "must be a date-time with a time zone, e.g. 2026-11-20T12:00:00+09:00"
    if not isinstance(value, str):
        raise PydanticCustomError("datetime", what)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("datetime", what) from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("datetime", what)
    # Kept well inside what datetime holds: 0001-01-01T00:00+14:00 has no UTC date at all.
    if not EARLIEST_YEAR <= parsed.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime", f"must fall between the years {EARLIEST_YEAR} and {MAX_YEAR}"
        )
    return parsed


AwareTime = Annotated[
    datetime,
    BeforeValidator(_aware_time),
    Field(json_schema_extra={"pattern": TIME_PATTERN, "example": "2026-11-20T12:00:00+09:00"}),
]
Source = Annotated[str, Strict(), StringConstraints(pattern=SOURCE_PATTERN)]
EvidenceName = Annotated[str, Strict(), StringConstraints(pattern=EVIDENCE_NAME_PATTERN)]


def _evidence_value(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PydanticCustomError("evidence", "must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_EVIDENCE_TEXT:
            raise PydanticCustomError("evidence", f"must be at most {MAX_EVIDENCE_TEXT} characters")
        return value
    raise PydanticCustomError("evidence", "must be text, a number or true/false")


# Flat and bounded: what a shop keeps as proof is a form version, a page, a label.
EvidenceValue = Annotated[
    Any,
    BeforeValidator(_evidence_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "number"},
                {"type": "string", "maxLength": MAX_EVIDENCE_TEXT},
            ]
        }
    ),
]
Evidence = Annotated[
    dict[EvidenceName, EvidenceValue],
    Field(max_length=MAX_EVIDENCE_FIELDS, json_schema_extra={"additionalProperties": False}),
]


class ConsentRequest(BaseModel):
    """POST /consents: one grant or withdrawal of marketing consent, as the shop recorded it."""

    model_config = ConfigDict(extra="forbid")

    member_id: MemberId
    channel: Literal["email", "sms", "line"]
    purpose: Literal["marketing"]
    granted: Annotated[bool, Strict()]
    occurred_at: AwareTime = Field(
        description="When the shopper gave or withdrew consent (not in the future)."
    )
    source: Source = Field(
        description="Where: checkout_checkbox, mypage, line_follow, shop_api, ...",
        json_schema_extra={"example": "checkout_checkbox"},
    )
    evidence: Evidence | None = Field(
        default=None,
        description=(
            f"What the shop keeps as proof (e.g. form_version): at most {MAX_EVIDENCE_FIELDS} "
            f"fields of text (at most {MAX_EVIDENCE_TEXT} characters), numbers or true/false. "
            "No personal data: it outlives an erasure, pseudonymised."
        ),
    )


class ContactRequest(BaseModel):
    """PUT /members/{member_id}/contact: where the member can be reached (replaces both)."""

    model_config = ConfigDict(extra="forbid")

    email: (
        Annotated[str, Strict(), StringConstraints(max_length=MAX_EMAIL, pattern=EMAIL_PATTERN)]
        | None
    ) = Field(default=None, description=f"{EMAIL_WHAT}; left out or null: none.")
    phone: Annotated[str, Strict(), StringConstraints(pattern=PHONE_PATTERN)] | None = Field(
        default=None, description=f"{PHONE_WHAT}; stored as E.164. Left out or null: none."
    )


_PATTERNS: Mapping[str, str] = {
    **PATTERNS,
    SOURCE_PATTERN: SOURCE_WHAT,
    EVIDENCE_NAME_PATTERN: "1-32 letters, digits, _ . or -",
    EMAIL_PATTERN: EMAIL_WHAT,
    PHONE_PATTERN: PHONE_WHAT,
    TIME_PATTERN: "a date-time from the year 2000 to 2999",
}


def _parse(model: type[BaseModel], body: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        found = describe(first_error(exc), _PATTERNS, null_is_missing=False)
        raise ApiError(400, found.code, f"{found.field} {found.message}", found.field) from None


# -- views -----------------------------------------------------------------------------------


@shop_endpoint
def post_consent() -> tuple[Response, int]:
    """Record one grant or withdrawal; 201 with the record and the channel's current state."""
    body: ConsentRequest = _parse(ConsentRequest, json_body())
    services = current_services()
    now = services.clock.now()
    if body.occurred_at > now + FUTURE_SKEW:
        raise ApiError(400, "invalid_field", "occurred_at is in the future", "occurred_at")
    key = request.headers.get(KEY_HEADER)
    session = services.db.session()
    record = service.record_consent(
        session,
        member_id=body.member_id,
        channel=body.channel,
        purpose=body.purpose,
        granted=body.granted,
        occurred_at=body.occurred_at,
        source=body.source,
        now=now,
        evidence=body.evidence,
        # Beyond the 24-hour replay of the response, the key keeps the record single.
        request_key=f"api:{key}" if key else None,
    )
    current = service.current_record(session, body.member_id, body.channel)
    return jsonify(
        record=record_body(record),
        current=state_body(current),
        applied=current is not None and current.id == record.id,
    ), 201


@shop_endpoint
def put_contact(member_id: str) -> tuple[Response, int]:
    """Replace the member's e-mail and phone; 201 the first time, 200 after."""
    member_id_param(member_id)
    body: ContactRequest = _parse(ContactRequest, json_body())
    services = current_services()
    session = services.db.session()
    created = session.get(MemberContact, member_id) is None
    try:
        email = normalise_email(body.email) if body.email is not None else None
    except ContactError as exc:
        raise ApiError(400, "invalid_field", f"email {exc}", "email") from None
    try:
        phone = normalise_phone(body.phone) if body.phone is not None else None
    except ContactError as exc:
        raise ApiError(400, "invalid_field", f"phone {exc}", "phone") from None
    row = service.set_contact(
        session, member_id, email=email, phone=phone, now=services.clock.now()
    )
    return jsonify(member_id=member_id, **contact_body(row)), 201 if created else 200


@shop_endpoint
def get_contact(member_id: str) -> Response:
    """The member's stored contact; 404 if the shop never gave one."""
    member_id_param(member_id)
    row = current_services().db.session().get(MemberContact, member_id)
    if row is None:
        raise ApiError(404, "unknown_member", "no contact is stored for this member", "member_id")
    return jsonify(member_id=member_id, **contact_body(row))


@shop_endpoint
def delete_contact(member_id: str) -> tuple[str, int]:
    """Forget the member's e-mail and phone (consent history stays); 404 if none."""
    member_id_param(member_id)
    session = current_services().db.session()
    row = session.get(MemberContact, member_id)
    if row is None:
        raise ApiError(404, "unknown_member", "no contact is stored for this member", "member_id")
    session.delete(row)
    return "", 204


# -- bodies ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def record_body(record: ConsentRecord) -> dict[str, Any]:
    """One consent record as the API shows it."""
    return {
        "id": record.id,
        "channel": record.channel,
        "purpose": record.purpose,
        "granted": record.granted,
        "occurred_at": _iso(record.occurred_at),
        "recorded_at": _iso(record.recorded_at),
        "source": record.source,
        "evidence": record.evidence or {},
    }


def state_body(record: ConsentRecord | None) -> dict[str, Any] | None:
    """The current state a record holds (None: no record)."""
    if record is None:
        return None
    return {
        "granted": record.granted,
        "occurred_at": _iso(record.occurred_at),
        "source": record.source,
    }


def contact_body(row: MemberContact | None) -> dict[str, Any]:
    """The contact part of a body: addresses and when they were found undeliverable."""
    return {
        "email": row.email if row else None,
        "phone": row.phone if row else None,
        "email_undeliverable_at": _iso(row.email_undeliverable_at) if row else None,
        "phone_undeliverable_at": _iso(row.phone_undeliverable_at) if row else None,
    }


def member_consent_fields(session: Session, member_id: str) -> dict[str, Any]:
    """What GET /members/{id} shows of contacts and consent, linked member or not."""
    row = session.get(MemberContact, member_id)
    current = {}
    for channel in ("line", "email", "sms"):
        state = state_body(service.current_record(session, member_id, channel))
        if state is None and channel == "line":
            # No record: LINE's own flag answers (opted in on follow), shown as such.
            granted = service.marketing_consent(session, member_id, "line")
            state = {"granted": granted, "occurred_at": None, "source": "line_follow_default"}
        current[channel] = state
    newest = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.member_id == member_id)
            .order_by(ConsentRecord.occurred_at.desc(), ConsentRecord.id.desc())
            .limit(MAX_HISTORY)
        )
    )
    return {
        "contact": contact_body(row) if row is not None else None,
        "consents": current,
        "consent_history": [record_body(r) for r in reversed(newest)],
    }


def member_known(session: Session, member_id: str) -> bool:
    """Whether a contact or a consent record is stored for the member."""
    if session.get(MemberContact, member_id) is not None:
        return True
    found = select(ConsentRecord.id).where(ConsentRecord.member_id == member_id).limit(1)
    return session.scalars(found).first() is not None


def erase_with_member(
    session: Session, member_id: str, line_user_ids: Sequence[str]
) -> dict[str, int]:
    """The member eraser: contacts and consent records, as `erasure` explains."""
    services = current_services()
    return erase_member_consents(
        session,
        member_id,
        line_user_ids,
        key=services.settings.secret_key.encode(),
        now=services.clock.now(),
    )


# -- registration ----------------------------------------------------------------------------


def init_api(api: ShopApi, members: MemberHooks) -> None:
    """Add POST /consents and PUT /members/{id}/contact to `api`; GET /members/{id} shows
    contact and consent, DELETE /members/{id} erases them. Needs the member endpoints first."""
    if "Member" not in api.schemas:
        raise RuntimeError("add the member endpoints (members_api.init_api) before consents")
    api.bp.add_url_rule("/consents", view_func=post_consent, methods=["POST"])
    path = "/members/<member:member_id>/contact"
    # All three methods, so that the path never falls through to GET or DELETE
    # /members/{member_id} (a member id may hold slashes: "M1/contact" is one).
    api.bp.add_url_rule(path, view_func=put_contact, methods=["PUT"], merge_slashes=False)
    api.bp.add_url_rule(path, view_func=get_contact, methods=["GET"], merge_slashes=False)
    api.bp.add_url_rule(path, view_func=delete_contact, methods=["DELETE"], merge_slashes=False)
    api.add_paths(OPENAPI_PATHS, {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS})
    members.erasers.append(erase_with_member)
    members.fields.append(member_consent_fields)
    members.known.append(member_known)
    api.schemas["Member"]["properties"].update(MEMBER_PROPERTIES)


# -- OpenAPI ---------------------------------------------------------------------------------

REQUEST_SCHEMAS = {
    **component_schemas("ConsentRequest", ConsentRequest),
    **component_schemas("ContactRequest", ContactRequest),
}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_CHANNELS = ["email", "sms", "line"]
CONSENT_STATE: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["granted", "occurred_at", "source"],
    "properties": {
        "granted": {"type": "boolean"},
        "occurred_at": _NULLABLE_TIME,
        "source": {"type": "string"},
    },
}
CONSENT_RECORD: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "channel",
        "purpose",
        "granted",
        "occurred_at",
        "recorded_at",
        "source",
        "evidence",
    ],
    "properties": {
        "id": {"type": "integer"},
        "channel": {"type": "string", "enum": _CHANNELS},
        "purpose": {"type": "string", "enum": ["marketing"]},
        "granted": {"type": "boolean"},
        "occurred_at": _TIME,
        "recorded_at": _TIME,
        "source": {"type": "string"},
        "evidence": {"type": "object"},
    },
}
CONTACT: dict[str, Any] = {
    "type": "object",
    "required": ["email", "phone", "email_undeliverable_at", "phone_undeliverable_at"],
    "properties": {
        "email": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"], "description": "E.164"},
        "email_undeliverable_at": _NULLABLE_TIME,
        "phone_undeliverable_at": _NULLABLE_TIME,
    },
}
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ConsentRecord": CONSENT_RECORD,
    "ConsentState": CONSENT_STATE,
    "ConsentRecorded": {
        "type": "object",
        "required": ["record", "current", "applied"],
        "properties": {
            "record": {"$ref": "#/components/schemas/ConsentRecord"},
            "current": {"$ref": "#/components/schemas/ConsentState"},
            "applied": {
                "type": "boolean",
                "description": "False: an older record than the newest; kept as history only.",
            },
        },
    },
    "MemberContact": {
        "type": "object",
        "required": ["member_id", *CONTACT["required"]],
        "properties": {"member_id": {"type": "string"}, **CONTACT["properties"]},
    },
}
MEMBER_PROPERTIES: dict[str, Any] = {
    "contact": {"oneOf": [{"type": "null"}, CONTACT]},
    "consents": {
        "type": "object",
        "required": _CHANNELS,
        "properties": {c: {"$ref": "#/components/schemas/ConsentState"} for c in _CHANNELS},
    },
    "consent_history": {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ConsentRecord"},
        "description": f"By occurred_at, oldest first; the newest {MAX_HISTORY}.",
    },
}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/consents": {
        "post": {
            "operationId": "recordConsent",
            "summary": "Record a grant or withdrawal of marketing consent (kept as history)",
            "description": (
                "Appends to the member's consent history; nothing is overwritten. The current "
                "state of a channel is the record that happened last (occurred_at), so a "
                "record sent late is kept but does not change it (`applied`: false)."
            ),
            "parameters": signed(idempotent=True),
            "requestBody": json_request("ConsentRequest"),
            "responses": {
                "201": json_response("Recorded.", "ConsentRecorded"),
                **common_errors(body=True, idempotent=True),
                "400": error(
                    "Invalid JSON, the Idempotency-Key is malformed, or a field is wrong "
                    "(`field` names it): e.g. occurred_at in the future or without a time "
                    "zone, an unknown channel, evidence too large."
                ),
            },
        }
    },
    "/members/{member_id}/contact": {
        "put": {
            "operationId": "putMemberContact",
            "summary": "Replace the member's e-mail address and phone number",
            "description": (
                "Both at once: one left out or null is forgotten. A Japanese mobile number "
                "(070/080/090) is stored as E.164 (+8170...). A changed address is "
                "deliverable again until it bounces."
            ),
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
            "requestBody": json_request("ContactRequest"),
            "responses": {
                "201": json_response("Stored; the member had none before.", "MemberContact"),
                "200": json_response("Replaced.", "MemberContact"),
                **common_errors(body=True, idempotent=True),
                "400": error(
                    "Invalid JSON, member_id or Idempotency-Key is malformed, or the e-mail "
                    "or phone is not one (`field` names it)."
                ),
            },
        },
        "get": {
            "operationId": "getMemberContact",
            "summary": "The member's stored e-mail address and phone number",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=False)],
            "responses": {
                "200": json_response("The stored contact.", "MemberContact"),
                **common_errors(body=False, idempotent=False),
                "400": error("member_id is malformed."),
                "404": error("No contact is stored for this member."),
            },
        },
        "delete": {
            "operationId": "deleteMemberContact",
            "summary": "Forget the member's e-mail and phone (the consent history stays)",
            "parameters": [MEMBER_PATH_PARAM, *signed(idempotent=True)],
            "responses": {
                "204": {"description": "Forgotten."},
                **common_errors(body=False, idempotent=True),
                "400": error("member_id or the Idempotency-Key header is malformed."),
                "404": error("No contact is stored for this member."),
            },
        },
    },
}
