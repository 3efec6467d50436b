"""Epoch advice from a job's loss curve (issue 25, item 3): the rule in gemini_tuning._advice."""

from __future__ import annotations

import math

import pytest

from gemini_tuning._advice import TOLERANCE, EpochAdvice, advise, suggested_epoch_count


def test_a_curve_that_flattens_after_epoch_3_of_5_advises_3_for_40_percent_less() -> None:
    advice = advise([2.0, 1.2, 0.90, 0.899, 0.901], None, 5)
    assert advice is not None
    assert (advice.curve, advice.epochs, advice.suggested_epoch_count) == ("validation", 5, 3)
    assert advice.saving == pytest.approx(0.4)
    assert advice.best_loss == pytest.approx(0.899)
    assert advice.suggested_loss == pytest.approx(0.90)
    assert advice.message == (
        "validation loss no better after epoch 3 of 5: epoch_count 3 reaches the same loss "
        "(within 1%) for 40% less training cost"
    )


def test_a_curve_that_keeps_improving_to_the_last_epoch_says_nothing() -> None:
    # number-successor's training loss on the emulator: every epoch improves by far over 1 %.
    assert advise(None, [1.596271, 1.021099, 0.664418, 0.448242, 0.300915], 5) is None
    # The last epoch still improves by more than the tolerance: more epochs might help.
    assert advise([1.0, 0.8, 0.79, 0.78], None, 4) is None


def test_one_epoch_or_none_says_nothing() -> None:
    assert advise([1.0], None, 1) is None
    assert advise([], [], None) is None
    assert advise(None, None, 5) is None


def test_a_curve_that_rises_again_advises_its_lowest_epoch() -> None:
    # The emulator's squad-qa validation loss over 8 epochs: best after epoch 2, then overfits.
    curve = [2.813449, 2.770861, 2.77612, 2.792181, 2.813059, 2.835243, 2.85582, 2.876156]
    advice = advise(curve, [3.2, 1.6, 1.2, 0.96, 0.83, 0.72, 0.66, 0.60], 8)
    assert advice is not None
    assert (advice.curve, advice.suggested_epoch_count) == ("validation", 2)
    assert advice.suggested_loss == advice.best_loss == pytest.approx(2.770861)
    assert advice.saving == pytest.approx(0.75)


def test_noise_within_the_tolerance_does_not_move_the_advice_but_a_real_drop_does() -> None:
    noisy = [3.0, 2.0, 1.50, 1.51, 1.495, 1.505, 1.498]  # wobbles by < 1 % after epoch 3
    assert suggested_epoch_count(noisy) == 3
    late_drop = [3.0, 2.0, 1.50, 1.51, 1.495, 1.40, 1.41]  # epoch 6 is 6.7 % better
    assert suggested_epoch_count(late_drop) == 6
    advice = advise(late_drop, None, 7)
    assert advice is not None
    assert advice.suggested_epoch_count == 6
    assert advice.best_loss == pytest.approx(1.40)


def test_the_tolerance_is_relative_and_conservative() -> None:
    assert TOLERANCE == 0.01
    # Exactly at the tolerance: flat; just past it: still improving.
    assert suggested_epoch_count([2.0, 1.0, 0.99]) == 2
    assert suggested_epoch_count([2.0, 1.0, 0.989]) == 3
    # The same shape at any scale gives the same advice.
    assert suggested_epoch_count([200.0, 100.0, 99.5]) == suggested_epoch_count([2.0, 1.0, 0.995])


def test_validation_is_preferred_and_training_is_the_fallback() -> None:
    training = [2.0, 1.0, 0.5, 0.25]  # keeps falling: memorising the training set
    validation = [2.0, 1.5, 1.49, 1.5]  # held out: flat after epoch 2
    from_validation = advise(validation, training, 4)
    assert from_validation is not None
    assert (from_validation.curve, from_validation.suggested_epoch_count) == ("validation", 2)
    assert advise(None, training, 4) is None  # the training curve alone: keeps improving
    flat_training = advise([], [2.0, 1.0, 1.0, 0.999], 4)
    assert flat_training is not None
    assert flat_training.curve == "training"
    assert flat_training.message.startswith("training loss no better after epoch 2 of 4")


def test_a_curve_that_does_not_cover_the_declared_epochs_says_nothing() -> None:
    # A cancelled (or partly published) job: its curve says nothing of the epochs it did not run.
    assert advise([2.0, 1.0, 1.0], None, 5) is None
    # The engine hands integers back as floats; the service-chosen count is the curve's length.
    advice = advise([2.0, 1.0, 1.0], None, 3.0)
    assert advice is not None
    assert advice.epochs == 3
    assert advise([2.0, 1.0, 1.0], None, None) == advice


def test_non_finite_losses_say_nothing() -> None:
    assert advise([2.0, math.nan, 1.0, 1.0], None, 4) is None
    assert advise([2.0, math.inf, 1.0, 1.0], None, 4) is None
    assert advise(["x", 1.0], None, 2) is None


def test_the_advice_round_trips_through_plain_fields_and_old_records_have_none() -> None:
    advice = advise([2.0, 1.2, 0.9, 0.9, 0.9], None, 5)
    assert advice is not None
    fields = advice.as_dict()
    assert fields["message"] == advice.message
    assert fields["suggested_epoch_count"] == 3
    assert EpochAdvice.from_dict(fields) == advice
    # Pulumi hands integers back as floats.
    assert EpochAdvice.from_dict({**fields, "epochs": 5.0, "suggested_epoch_count": 3.0}) == advice
    assert EpochAdvice.from_dict(None) is None
    assert EpochAdvice.from_dict({"curve": "validation"}) is None


def test_report_rows_carry_the_advice_and_the_table_says_it_only_where_the_loss_flattened() -> None:
    from gemini_tuning.cli import _report

    outputs = {
        "models": {
            "squad-qa": {
                "version": 1,
                "state": "SUCCEEDED",
                "hyperparameters": {"epoch_count": 4},
                "loss_per_epoch": [4.6, 1.1, 0.56, 0.41],
                "validation_loss_per_epoch": [3.171287, 3.0549, 3.040496, 3.045615],
            },
            "number-successor": {
                "version": 2,
                "state": "SUCCEEDED",
                "hyperparameters": {"epoch_count": 5},
                "loss_per_epoch": [1.596271, 1.021099, 0.664418, 0.448242, 0.300915],
                "validation_loss_per_epoch": [],
            },
        }
    }
    rows = _report.collect(["dev"], lambda _stack: outputs)
    advice = {row["model"]: row["advice"] for row in rows}
    assert advice["number-successor"] is None
    assert advice["squad-qa"]["suggested_epoch_count"] == 2
    assert advice["squad-qa"]["curve"] == "validation"
    text = _report.render(rows)
    assert (
        "dev squad-qa v1: validation loss no better after epoch 2 of 4: epoch_count 2 reaches "
        "the same loss (within 1%) for 50% less training cost"
    ) in text
    assert "number-successor v2:" not in text
    assert "Epoch advice" not in _report.render([r for r in rows if r["model"] != "squad-qa"])
