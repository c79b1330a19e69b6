"""python -m evaluation.online_choice --write-checkpoint: the routing chosen on validation and the
next-query criterion chosen there are what the checkpoint (and so the service) then uses."""

import json

import pytest

from evaluation.online_choice import service_criterion
from model.checkpoint import read_config, update_routing
from tests.helpers import make_tiny_checkpoint


@pytest.mark.parametrize("validation, chosen, expected", [
    ({"random": 0.60, "entropy": 0.61, "information": 0.62}, "information", "information"),
    ({"random": 0.60, "entropy": 0.62, "information": 0.61}, "entropy", "entropy"),
    # random won on validation: the endpoint must still pick a pair, so the best active criterion there
    ({"random": 0.63, "entropy": 0.61, "information": 0.62}, "random", "information"),
    ({"random": 0.63}, "random", "entropy"),
])
def test_the_service_gets_the_validation_choice_or_the_best_active_one(validation, chosen, expected):
    assert service_criterion({"validation": validation, "chosen": chosen}) == expected


def test_written_routing_carries_the_active_criterion_and_later_writes_keep_it(tmp_path):
    directory = make_tiny_checkpoint(tmp_path / "ckpt")
    update_routing(directory, tau=1.0, mode="hedge", active_criterion="information")  # online_choice
    routing = read_config(directory).routing_config()
    assert (routing.tau, routing.mode, routing.active_criterion) == (1.0, "hedge", "information")
    update_routing(directory, tau=2.0, eta=1.0)  # curves choose tau/eta, never the criterion
    routing = read_config(directory).routing_config()
    assert (routing.tau, routing.eta, routing.mode, routing.active_criterion) == (2.0, 1.0, "hedge", "information")
    assert json.loads((directory / "config.json").read_text())["routing"]["active_criterion"] == "information"


def test_an_invalid_routing_is_refused_before_anything_is_written(tmp_path):
    directory = make_tiny_checkpoint(tmp_path / "ckpt")
    before = (directory / "config.json").read_text()
    with pytest.raises(ValueError, match="active_criterion"):
        update_routing(directory, active_criterion="random")
    assert (directory / "config.json").read_text() == before
