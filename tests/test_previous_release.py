"""What the previous release saved still loads (issue 25): config.json files of real runs and tiny model folders,
written before the configs were typed fields (`tests/fixtures/previous_release/`, saved by commit 9437dc3), load to
the configs that release loaded (`loaded_configs.json`: their `to_dict()` then), and again after a save and a reload
with this code; the tiny models give the logits they gave then (`expected.safetensors`: inputs and logits)."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig

from emotion_hub import modeling

FIXTURES = Path(__file__).parent / "fixtures" / "previous_release"
LOADED = json.loads((FIXTURES / "loaded_configs.json").read_text())
NOT_COMPARED = ("transformers_version", "_name_or_path")


def _folder(name: str, tmp_path) -> Path:
    """The fixture's folder (a bare config.json is put in a folder of its own)."""
    if not name.startswith("configs/"):
        return FIXTURES / name
    folder = tmp_path / "saved"
    folder.mkdir()
    shutil.copy(FIXTURES / name, folder / "config.json")
    return folder


def _comparable(config_dict: dict) -> dict:
    return {k: v for k, v in json.loads(json.dumps(config_dict, sort_keys=True)).items() if k not in NOT_COMPARED}


@pytest.mark.parametrize("name", sorted(LOADED))
def test_a_saved_config_loads_to_the_config_it_was(name, tmp_path):
    config = AutoConfig.from_pretrained(_folder(name, tmp_path))
    assert _comparable(config.to_dict()) == LOADED[name]
    config.save_pretrained(tmp_path / "again")
    assert _comparable(AutoConfig.from_pretrained(tmp_path / "again").to_dict()) == LOADED[name]


@pytest.mark.parametrize("name", sorted(p.parent.name for p in FIXTURES.glob("*/expected.safetensors")))
def test_a_saved_model_gives_the_logits_it_gave(name):
    folder = FIXTURES / name
    config = AutoConfig.from_pretrained(folder)
    model = getattr(modeling, config.architectures[0]).from_pretrained(folder).eval()
    expected = load_file(folder / "expected.safetensors")
    inputs = {key.removeprefix("input."): value for key, value in expected.items() if key.startswith("input.")}
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.testing.assert_close(logits, expected["logits"], rtol=1e-5, atol=1e-5)
