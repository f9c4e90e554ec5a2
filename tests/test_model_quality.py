"""experiments.model_quality: the schedule marks of the learning-curve plot."""

import json

from experiments import model_quality


def test_schedule_changes_reads_config_history(tmp_path):
    history = [
        {"step": 5001, "changes": {"loss.alpha": {"old": 0.1, "new": 0.02},
                                   "train.steps": {"old": 16000, "new": 11000}},
         "training_fields_changed": ["loss.alpha"]},
        {"step": 7000, "changes": {"train.steps": {"old": 11000, "new": 12000}},
         "training_fields_changed": []},  # bookkeeping only: not a schedule change
        {"step": 8046, "changes": {"train.lr": {"old": 0.001, "new": 0.0003}},
         "training_fields_changed": ["train.lr"]},
    ]
    (tmp_path / "run_info.json").write_text(json.dumps({"sessions": [], "config_history": history}))
    marks = model_quality.schedule_changes(tmp_path, batch_size=8)
    assert marks == [(40008, "alpha 0.1→0.02"), (64368, "lr 0.001→0.0003")]


def test_schedule_changes_without_run_info(tmp_path):
    assert model_quality.schedule_changes(tmp_path, batch_size=8) == []
