"""The API's enum fields are the desk's vocabularies: every request or response field over
a fixed set of words accepts exactly the desk's values, no more and no fewer."""

from __future__ import annotations

import inspect
import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from winback.desk import models
from winback.web import call_steps, calls, concessions, contact, red_carpet, reports, schemas

# (schema, field) -> the desk's tuple its values must be.
EXPECTED: dict[tuple[type[BaseModel], str], tuple[str, ...]] = {
    (schemas.UserCreate, "role"): models.ROLES,
    (schemas.UserPublic, "role"): models.ROLES,
    (schemas.CasePublic, "state"): models.CASE_STATES,
    (schemas.CasePublic, "outcome"): models.CASE_OUTCOMES,
    (schemas.ActivityCreate, "kind"): models.ACTIVITY_KINDS,
    (schemas.ActivityCreate, "channel"): models.CONTACT_CHANNELS,
    (schemas.ActivityPublic, "kind"): models.ACTIVITY_KINDS,
    (schemas.ActivityPublic, "channel"): models.CONTACT_CHANNELS,
    (schemas.CaseClose, "outcome"): models.PERSON_OUTCOMES,
    (schemas.FilterQuery, "state"): models.CASE_STATE_CHOICES,
    (schemas.SavedFilterQuery, "state"): models.CASE_STATE_CHOICES,
    (call_steps.VerificationAnswers, "verification"): models.VERIFICATIONS,
    (call_steps.OfferAnswers, "offer_kind"): models.OFFER_KINDS,
    (call_steps.OutcomeAnswers, "outcome"): models.PERSON_OUTCOMES,
    (calls.CallPublic, "step"): models.CALL_STEPS,
    (calls.CallPublic, "verification"): models.VERIFICATIONS,
    (calls.CallPublic, "offer_kind"): models.OFFER_KINDS,
    (calls.CallPublic, "outcome"): models.PERSON_OUTCOMES,
    (calls.CallLogged, "verification"): models.VERIFIED,
    (calls.CallLogged, "offer_kind"): models.OFFER_KINDS,
    (calls.CallLogged, "outcome"): models.PERSON_OUTCOMES,
    (calls.TaskPublic, "kind"): models.TASK_KINDS,
    (concessions.ConcessionCreate, "kind"): models.CONCESSION_KINDS,
    (concessions.ConcessionDecision, "decision"): models.CONCESSION_DECISIONS,
    (concessions.ConcessionPublic, "kind"): models.CONCESSION_KINDS,
    (concessions.ConcessionPublic, "state"): models.CONCESSION_STATES,
    (concessions.ApprovalPublic, "kind"): models.CONCESSION_KINDS,
    (concessions.ApprovalPublic, "state"): models.CONCESSION_STATES,
    (red_carpet.ExperiencePublic, "source"): models.EXPERIENCE_SOURCES,
    (contact.ContactBlockPublic, "source"): models.CONTACT_BLOCK_SOURCES,
}


def _schemas() -> list[type[BaseModel]]:
    found = []
    for module in (schemas, call_steps, calls, concessions, contact, red_carpet, reports):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__ == module.__name__:
                found.append(value)
    return found


def _literal_values(annotation: Any) -> tuple[str, ...] | None:
    """The Literal's values in ``annotation`` (``X | None`` unwrapped), or None."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return _literal_values(inner[0]) if len(inner) == 1 else None
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return None


def test_every_enum_field_of_the_api_is_listed_here() -> None:
    over_enums = {
        (schema, name)
        for schema in _schemas()
        for name, info in schema.model_fields.items()
        if _literal_values(info.annotation) is not None
    }
    assert over_enums == set(EXPECTED)


@pytest.mark.parametrize(
    ("schema", "field"), list(EXPECTED), ids=[f"{s.__name__}.{f}" for s, f in EXPECTED]
)
def test_an_enum_field_accepts_exactly_the_desks_values(
    schema: type[BaseModel], field: str
) -> None:
    wanted = EXPECTED[(schema, field)]
    annotation = schema.model_fields[field].annotation
    assert _literal_values(annotation) == wanted
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for value in wanted:
        assert adapter.validate_python(value) == value
    for stranger in ("", "Won_Back", "returned_unprompted", "superuser", "phone"):
        if stranger not in wanted:
            with pytest.raises(ValidationError):
                adapter.validate_python(stranger)
