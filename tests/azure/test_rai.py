"""Both documented RAI messages are recognised by text (any category list) and by an RAI-looking code."""

from __future__ import annotations

import pytest

from bot.azure.errors import rai_failure, rai_failure_from_error
from bot.azure.models import FineTuningJob
from bot.azure.rai import normalise_category

DATA = (
    "The provided training data failed RAI checks for harm types: [hate_fairness, self_harm, violence]. "
    "Please fix the data and try again."
)
EVALUATION = (
    "This model is unable to be deployed. Model evaluation identified that this fine tuned model scores "
    "above acceptable thresholds for [Violence, Self Harm]. Please review your training data set and "
    "resubmit the job."
)


def _job(code: str | None, message: str | None, **fields: object) -> FineTuningJob:
    return FineTuningJob.model_validate(
        {"id": "ftjob-" + "0" * 32, "status": "failed", "error": {"code": code, "message": message}, **fields}
    )


@pytest.mark.parametrize("code", [None, "invalidTrainingData", "whatever", "ResponsibleAIPolicyViolation"])
def test_data_failure_by_text_with_any_code(code: str | None) -> None:
    failure = rai_failure(_job(code, DATA))
    assert failure is not None
    assert failure.phase == "data"
    assert failure.categories == ("hate_fairness", "self_harm", "violence")
    assert failure.code == code


def test_evaluation_failure_normalises_categories() -> None:
    failure = rai_failure(_job("modelEvaluationFailed", EVALUATION, fine_tuned_model="m.ft-" + "1" * 32))
    assert failure is not None
    assert failure.phase == "evaluation"
    assert failure.categories == ("violence", "self_harm")


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ("[sexual]", ("sexual",)),
        ("[Hate, Sexual, Self-Harm, Violence]", ("hate_fairness", "sexual", "self_harm", "violence")),
        ("[]", ()),
        ("[hate/fairness, brand_new_category]", ("hate_fairness", "brand_new_category")),
    ],
)
def test_any_category_list(listing: str, expected: tuple[str, ...]) -> None:
    text = f"The provided training data failed RAI checks for harm types: {listing}. Please fix the data."
    failure = rai_failure_from_error(None, text)
    assert failure is not None
    assert failure.categories == expected


def test_code_alone_counts_and_phase_follows_training() -> None:
    untrained = rai_failure(_job("RaiCheckFailed", "Safety checks failed."))
    trained = rai_failure(_job("RaiCheckFailed", "Safety checks failed.", trained_tokens=1200))
    assert untrained is not None and untrained.phase == "data"
    assert trained is not None and trained.phase == "evaluation"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("invalidPayload", "Training file has fewer than 10 examples."),
        (None, None),
        ("internalFailure", "boom"),
    ],
)
def test_other_failures_are_not_rai(code: str | None, message: str | None) -> None:
    assert rai_failure(_job(code, message)) is None


def test_no_error_is_not_rai() -> None:
    assert rai_failure(FineTuningJob.model_validate({"id": "ftjob-x", "status": "succeeded"})) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Self Harm", "self_harm"),
        ("self-harm", "self_harm"),
        ("Hate and Fairness", "hate_fairness"),
        ("VIOLENCE", "violence"),
        (" 'sexual' ", "sexual"),
    ],
)
def test_normalise_category(raw: str, expected: str) -> None:
    assert normalise_category(raw) == expected
