"""The answers of each step of a guided call, as the API takes them: one schema a step.

``POST /api/calls/{id}/steps/{step}`` checks its body against the step's schema, so a key
the step does not know (a typo, another step's field) is answered 422, never dropped. The
rules that need the desk (reasons in the taxonomy, a follow-up not in the past) stay in
``desk.calls``, shared with the pages.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from winback.desk.models import CallStep, OfferKind, PersonOutcome, Verification
from winback.web.schemas import Body, IdField, IsoDate


class ApologyAnswers(Body):
    apology: str = Field(description="the apology you opened with")


class ListeningAnswers(Body):
    listening: str = Field(description="what the customer told you")


class DiagnosisAnswers(Body):
    reasons: list[str] = Field(description="reason codes from GET /api/reasons")


class VerificationAnswers(Body):
    verification: Verification
    correction: str = Field("", description="needed unless the customer said yes")
    customer_words: str = ""


class AsksAnswers(Body):
    asks: str = Field(description="what the customer asks for to make it right")


class PlanAnswers(Body):
    """Nothing to say: the plan's commitments are added with POST .../commitments."""


class OfferAnswers(Body):
    offer_kind: OfferKind = "none"
    offer_text: str = Field("", description="a note on the offer; it gives nothing by itself")
    offer_amount: float | None = Field(
        None,
        description="for price_break, coupon (percent), credit and free_items: the amount, "
        "granted within your concession limit, else sent for approval",
    )
    offer_concession_id: IdField | None = Field(
        None, description="instead of offer_amount: a concession request on this case"
    )


class OutcomeAnswers(Body):
    outcome: PersonOutcome


class FollowUpAnswers(Body):
    follow_up_on: IsoDate | None = None
    follow_up_owner_id: IdField | None = None
    follow_up_title: str = ""


STEP_ANSWERS: dict[CallStep, type[Body]] = {
    "apology": ApologyAnswers,
    "listening": ListeningAnswers,
    "diagnosis": DiagnosisAnswers,
    "verification": VerificationAnswers,
    "asks": AsksAnswers,
    "plan": PlanAnswers,
    "offer": OfferAnswers,
    "outcome": OutcomeAnswers,
    "follow_up": FollowUpAnswers,
}


def step_answers(step: CallStep, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked against the step's schema: the answers it gives, for the desk.
    A body that does not fit raises the same 422 as any other request body."""
    try:
        answers = STEP_ANSWERS[step].model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    return answers.model_dump(exclude_unset=True)


def openapi_body() -> dict[str, Any]:
    """The request body as OpenAPI describes it: any of the steps' schemas (the path's
    ``step`` says which one applies)."""
    schemas = [model.model_json_schema() for model in STEP_ANSWERS.values()]
    return {"requestBody": {"content": {"application/json": {"schema": {"anyOf": schemas}}}}}
