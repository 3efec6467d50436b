"""The loss-curve artifact draws only what the service published."""

from __future__ import annotations

from pathlib import Path

from gemini_tuning import _artifacts


def test_no_loss_writes_a_note_and_no_chart(tmp_path: Path) -> None:
    chart = tmp_path / "m" / _artifacts.LOSS_CURVE
    chart.parent.mkdir()
    chart.write_bytes(b"stale")
    written = _artifacts.write_loss_curve(chart, [], "t")
    assert written == tmp_path / "m" / _artifacts.LOSS_NOTE
    assert written.read_text().startswith("loss not available:")
    assert not chart.exists()  # an old chart of another job is no curve of this one


def test_a_published_loss_is_drawn(tmp_path: Path) -> None:
    chart = tmp_path / _artifacts.LOSS_CURVE
    assert _artifacts.write_loss_curve(chart, [1.5, 1.0, 0.7], "t") == chart
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_a_published_validation_loss_is_drawn_beside_the_training_loss(tmp_path: Path) -> None:
    alone, both = tmp_path / "alone.png", tmp_path / "both.png"
    _artifacts.write_loss_curve(alone, [1.5, 1.0, 0.7], "t")
    assert _artifacts.write_loss_curve(both, [1.5, 1.0, 0.7], "t", validation=[1.6, 1.2, 1.1])
    assert both.read_bytes()[:4] == b"\x89PNG"
    assert both.read_bytes() != alone.read_bytes()


def test_the_summary_says_when_there_is_no_curve() -> None:
    text = _artifacts.render_summary(model="m", version=1, stack="dev", summary={"losses": []})
    assert "Loss curve: loss not available" in text
    assert "loss-curve.png" not in text
    drawn = _artifacts.render_summary(model="m", version=1, stack="dev", summary={"losses": [1.0]})
    assert "[loss-curve.png](loss-curve.png)" in drawn
