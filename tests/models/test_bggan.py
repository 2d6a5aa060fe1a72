"""BGGAN / Glass-Net: the official generator's size, the critics' receptive fields, WGAN-GP by a known
answer, gradients that never cross between generator and critic, any-size inference, weights."""

import pytest
import torch

from lensblur.errors import InputError, InvalidParameterError
from lensblur.models.bggan import (
    BGGAN,
    GlassNet,
    GlassNetConfig,
    MultiReceptiveFieldCritic,
    PatchDiscriminator,
    glassnet_render,
    gradient_penalty,
    instance_norm,
    load_glassnet,
)


def _count(params):
    return sum(p.numel() for p in params)


def test_generator_has_the_official_parameter_count():
    model = GlassNet()
    assert _count(model.parameters()) == 10_352_784
    stage1 = [p for n, p in model.named_parameters() if n.split(".")[0] in ("enc1", "res1", "dec1", "out1")]
    assert _count(stage1) == 3_055_056
    # the paper's text widths (stage 2 base 32, max 256) are one config away and larger
    assert _count(GlassNet(GlassNetConfig(c2=32)).parameters()) > 10_352_784


def test_outputs_are_full_size_in_unit_range():
    torch.manual_seed(0)
    model = GlassNet(GlassNetConfig(c1=4, c2=4, res_blocks=2)).eval()
    with torch.no_grad():
        final, coarse = model(torch.rand(2, 3, 24, 40))
    assert final.shape == coarse.shape == (2, 3, 24, 40)
    assert 0 <= float(final.min()) and float(final.max()) <= 1


def test_bad_sizes_are_refused():
    model = GlassNet(GlassNetConfig(c1=2, c2=2, res_blocks=1))
    with pytest.raises(InputError, match=r"multiples of 8; got \(20, 24\)"):
        model(torch.rand(1, 3, 20, 24))
    with pytest.raises(InvalidParameterError, match="res_blocks must be a positive integer; got 0"):
        GlassNetConfig(res_blocks=0)
    with pytest.raises(InvalidParameterError, match="height must be a positive multiple of 8"):
        glassnet_render(model, torch.rand(1, 3, 20, 20), height=30)


def test_instance_norm_matches_torch():
    x = torch.randn(2, 5, 7, 9) * 3 + 1
    assert torch.allclose(instance_norm(x), torch.nn.functional.instance_norm(x, eps=1e-5), atol=1e-5)


def _receptive_field(critic, size=256):
    x = torch.zeros(1, 3, size, size, requires_grad=True)
    out = critic(x)
    centre = out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum()
    (grad,) = torch.autograd.grad(centre, x)
    rows = grad[0].abs().sum(dim=(0, 2)).nonzero()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize(("layers", "field"), [(3, 46), (5, 190)])
def test_patch_critics_see_patches_of_their_depth(layers, field, monkeypatch):
    """4x4 convs: L stride-2 layers, one stride-1, then 1x1 — receptive field 4 + 3·(2 + 4 + … + 2^L).
    (Instance norm's statistics span the whole image, so it is switched off to see the convs' field.)"""
    import lensblur.models.bggan as bggan

    monkeypatch.setattr(bggan, "instance_norm", lambda x: x)
    torch.manual_seed(1)
    critic = PatchDiscriminator(layers, ndf=2)
    assert _receptive_field(critic) == field == 4 + 3 * sum(2 ** n for n in range(1, layers + 1))


def test_multi_receptive_field_critic_averages_its_two_critics():
    torch.manual_seed(2)
    critic = MultiReceptiveFieldCritic(ndf=2)
    x = torch.rand(3, 3, 64, 64)
    expected = (critic.critics[0](x).mean(dim=(1, 2, 3)) + critic.critics[1](x).mean(dim=(1, 2, 3))) / 2
    assert torch.allclose(critic(x), expected)


class _Linear(torch.nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def forward(self, x):
        return (x * self.weight).flatten(1).sum(1)


def test_gradient_penalty_known_answer_for_a_linear_critic():
    """D(x) = <w, x> has gradient w everywhere: the penalty is λ (‖w‖ − 1)² for any real and fake."""
    w = torch.full((1, 3, 4, 4), 0.5)          # ‖w‖ = 0.5 · √48
    critic = _Linear(w)
    got = gradient_penalty(critic, torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), weight=10.0)
    assert float(got.detach()) == pytest.approx(10 * (0.5 * 48 ** 0.5 - 1) ** 2, rel=1e-5)
    (grad,) = torch.autograd.grad(got, critic.weight)       # differentiable for the critic's step
    assert float(grad.abs().sum()) > 0


def test_generator_and_critic_gradients_never_cross():
    torch.manual_seed(3)
    gan = BGGAN(GlassNetConfig(c1=2, c2=2, res_blocks=1), ndf=2)
    image, real = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    fake, _ = gan(image)
    g_adv, d_loss, penalty = gan.adversarial_terms(fake, real)
    g_grads = torch.autograd.grad(g_adv, list(gan.critic.parameters()) + list(gan.generator.parameters()),
                                  allow_unused=True, retain_graph=True)
    n_critic = len(list(gan.critic.parameters()))
    assert all(g is None for g in g_grads[:n_critic])                       # D frozen in G's term
    assert any(g is not None and g.abs().sum() > 0 for g in g_grads[n_critic:])
    d_grads = torch.autograd.grad(d_loss + penalty, list(gan.generator.parameters()), allow_unused=True)
    assert all(g is None for g in d_grads)                                  # G's output detached in D's


def test_any_size_inference_as_the_paper_runs_it():
    torch.manual_seed(4)
    model = GlassNet(GlassNetConfig(c1=2, c2=2, res_blocks=1)).eval()
    image = torch.rand(1, 3, 30, 45)
    assert glassnet_render(model, image, height=32).shape == image.shape
    assert glassnet_render(model, image, height=None).shape == image.shape


def test_the_generator_loads_from_a_training_run_or_its_own_file(tmp_path):
    torch.manual_seed(5)
    gan = BGGAN(GlassNetConfig(c1=2, c2=2, res_blocks=1), critic_depths=(2, 3), ndf=2).eval()
    run_file = gan.save(tmp_path / "run.safetensors")
    again = BGGAN.load(run_file)
    assert again.critic_depths == (2, 3) and again.ndf == 2
    own_file = gan.generator.save(tmp_path / "g.safetensors")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        want = gan.generator(x)[0]
        for path in (run_file, own_file):
            assert torch.equal(load_glassnet(path).eval()(x)[0], want)
