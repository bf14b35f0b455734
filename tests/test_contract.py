"""The contract every registered model keeps, at 32x32 on CPU. A new model is tested by registering it."""

from __future__ import annotations

import pytest
import torch

from conftest import make_batch, tiny_info, tiny_opts, vector_capable
from translate.models.base import Translator
from translate.registry import create_model, list_models

MODELS = list_models()
# every model on images; models whose task takes the toy layout also on 2-D points
CASES = [pytest.param(n, False, id=n) for n in MODELS] + [pytest.param(n, True, id=f"{n}-2d") for n in MODELS if vector_capable(n)]


def build(name, seed=0, vector=False):
    torch.manual_seed(seed)
    return create_model(name, tiny_info(name, vector), tiny_opts(name))


def grads(params):
    return [p.grad is not None and bool(torch.isfinite(p.grad).all()) and p.grad.abs().sum() > 0 for p in params]


def test_registry_has_models():
    assert "pix2pix" in MODELS


@pytest.mark.parametrize("name,vector", CASES)
def test_step_finite_and_gradients_reach_only_the_intended_nets(name, vector):
    model = build(name, vector=vector)
    model.train()
    groups = model.param_groups()
    assert set(groups) == {"G", "D"}
    ids_g, ids_d = {id(p) for p in groups["G"]}, {id(p) for p in groups["D"]}
    assert not ids_g & ids_d, "a parameter is in both groups"
    assert ids_g | ids_d == {id(p) for p in model.parameters()}, "every parameter belongs to G or D"
    batch = make_batch(name, model.info)

    fakes = model.fake(batch)
    d = model.discriminator_step(batch, {k: v.detach() for k, v in fakes.items()})
    assert all(torch.isfinite(v).all() for v in d.values()), d
    d["total"].backward()
    assert all(p.grad is None for p in groups["G"]), "the D step reached the generator"
    d_got = grads(groups["D"])

    model.zero_grad(set_to_none=True)
    for p in groups["D"]:
        p.requires_grad_(False)
    g = model.generator_step(batch, fakes)
    assert all(torch.isfinite(v).all() for v in g.values()), g
    g["total"].backward()
    for p in groups["D"]:
        p.requires_grad_(True)
    assert all(p.grad is None for p in groups["D"]), "the G step reached the discriminator"
    g_got = grads(groups["G"])
    assert all(d_got), f"{d_got.count(False)} D parameters got no gradient"
    assert all(g_got), f"{g_got.count(False)} G parameters got no gradient"


def _infer(model, batch):
    model.eval()
    with torch.no_grad():
        torch.manual_seed(123)
        if isinstance(model, Translator):
            return torch.cat([model.translate(batch["A"], d) for d in model.directions])
        labels = batch.get("label")
        return model.sample(2, labels)


@pytest.mark.parametrize("name,vector", CASES)
def test_save_load_gives_identical_outputs(name, vector, tmp_path):
    from translate.files import atomic_save, safe_load

    model = build(name, seed=1, vector=vector)
    batch = make_batch(name, model.info)
    atomic_save(model.state_dict(), tmp_path / "m.pt")
    other = build(name, seed=2, vector=vector)
    other.load_state_dict(safe_load(tmp_path / "m.pt"))
    assert torch.equal(_infer(model, batch), _infer(other, batch))


@pytest.mark.parametrize("name,vector", CASES)
def test_inference_weights_rebuild_the_generator(name, vector, tmp_path):
    model = build(name, seed=1, vector=vector)
    batch = make_batch(name, model.info)
    other = build(name, seed=2, vector=vector)
    missing, unexpected = other.load_state_dict(model.inference_state(), strict=False)
    assert not unexpected
    assert torch.equal(_infer(model, batch), _infer(other, batch))


@pytest.mark.parametrize("name,vector", CASES)
def test_same_seed_same_result(name, vector, tmp_path):
    from translate.config import Config, TrainConfig
    from translate.engine.trainer import Trainer

    outs = []
    for _ in range(2):
        model = build(name, seed=3, vector=vector)
        batch = make_batch(name, model.info)
        trainer = Trainer.for_step(Config(model=name, train=TrainConfig(seed=3)), model, torch.device("cpu"))
        torch.manual_seed(3)
        losses = trainer.train_step(batch)
        assert all(torch.isfinite(v).all() for v in losses.values())
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(outs[0], outs[1])
