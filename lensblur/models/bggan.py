"""BGGAN: Glass-Net with multi-receptive-field discriminators (Qian et al., ECCV 2020 Workshops).

**Glass-Net** (the generator, paper §2.1, Fig. 1) is two stacked encoder-decoders, a "pair of glasses":

* **Stage 1** renders a coarse bokeh image y1: conv 3x3 (stride 1, then three of stride 2; ReLU each)
  from ``c1`` to 8·``c1`` channels at 1/8 size; nine residual blocks; the blocks' output concatenated with
  the encoder's last features; three 4x4 stride-2 transposed convs (bias, ReLU) back to ``c1`` channels at
  full size; conv 3x3 → 3, tanh.
* **Stage 2** refines it from ``[y1, x − y1]``: the same encoder with ``c2`` channels plus one more
  stride-1 conv at 1/8, nine residual blocks, and a U-Net decoder whose transposed convs take the
  concatenation of the previous output and the mirrored encoder features; conv 3x3 → 3, tanh.
* **Residual block**: conv 3x3 → IN → ReLU → dropout 0.1 → conv 3x3 → IN, plus the input, → ReLU.
  Plain convs have no bias; IN is non-affine with ε = 1e-5 (the paper's "reimplemented" IN, §2.3),
  written with plain mean/variance operators so ONNX export keeps dynamic sizes.
* Widths: the official code's ``c1 = 16, c2 = 24`` (10,352,784 parameters, matched exactly). The paper's
  text says 32 and 256 for stage 2 (``c2 = 32``); both are a config away.
* Images enter in [0, 1] and are mapped to [−1, 1] inside; both outputs come back in [0, 1].
  H and W must be multiples of 8; :func:`glassnet_render` resizes as the paper does.

**Discriminators** (§2.2, Fig. 2): PatchGANs (Isola et al.) with 4x4 convs, ``ndf = 64``: one stride-2
layer to 64 channels, then ``L − 1`` stride-2 layers doubling up to 512, one stride-1 layer, IN and
LeakyReLU(0.2) after each, and a final 1x1 conv; the critic's score is the mean of its output. The
multi-receptive-field critic averages a shallow (L = 3, "patch") and a deep (L = 5, "full") one. Trained as
WGAN-GP with λ = 10 (:func:`gradient_penalty`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError, InvalidParameterError
from ..io.weights import load_weights, read_weights, save_weights

__all__ = ["GlassNetConfig", "GlassNet", "BGGAN", "load_glassnet", "PatchDiscriminator", "MultiReceptiveFieldCritic", "instance_norm",
           "gradient_penalty", "glassnet_render"]


@dataclass(frozen=True)
class GlassNetConfig:
    """Glass-Net's shape: base widths of the two stages, residual blocks per stage, dropout in them."""

    c1: int = 16
    c2: int = 24
    res_blocks: int = 9
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name in ("c1", "c2", "res_blocks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"GlassNetConfig.{name} must be a positive integer; got {value!r}")
        if not 0 <= self.dropout < 1:
            raise InvalidParameterError(f"GlassNetConfig.dropout must be in [0, 1); got {self.dropout!r}")


def instance_norm(x: Tensor, eps: float = 1e-5) -> Tensor:
    """Non-affine instance norm: per sample and channel, (x − mean) / sqrt(var + eps), biased variance."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dim=(2, 3), keepdim=True)
    return centred / torch.sqrt(var + eps)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    """4x4 stride-2 transposed conv with bias: exactly 2x (TF 'SAME')."""
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)


class ResBlock(nn.Module):
    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.conv1, self.conv2 = _conv(channels, channels), _conv(channels, channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dropout(F.relu(instance_norm(self.conv1(x))))
        return F.relu(instance_norm(self.conv2(y)) + x)


class _Encoder(nn.Module):
    """conv s1 cin→c, then three stride-2 convs c→2c→4c→8c, ReLU after each; returns all four maps."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([_conv(cin, c), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2), _conv(4 * c, 8 * c, 2)])

    def forward(self, x: Tensor) -> list[Tensor]:
        maps = []
        for conv in self.convs:
            x = F.relu(conv(x))
            maps.append(x)
        return maps


class GlassNet(nn.Module):
    """The two-stage generator; ``forward(image)`` returns ``(final, coarse)`` in [0, 1]."""

    def __init__(self, config: GlassNetConfig = GlassNetConfig()) -> None:
        super().__init__()
        self.config = config
        c1, c2, n, p = config.c1, config.c2, config.res_blocks, config.dropout
        self.enc1 = _Encoder(3, c1)
        self.res1 = nn.Sequential(*(ResBlock(8 * c1, p) for _ in range(n)))
        self.dec1 = nn.ModuleList([_up(16 * c1, 4 * c1), _up(4 * c1, 2 * c1), _up(2 * c1, c1)])
        self.out1 = _conv(c1, 3)
        self.enc2 = _Encoder(6, c2)
        self.mid2 = _conv(8 * c2, 8 * c2)
        self.res2 = nn.Sequential(*(ResBlock(8 * c2, p) for _ in range(n)))
        self.dec2 = nn.ModuleList([_up(16 * c2, 4 * c2), _up(8 * c2, 2 * c2), _up(4 * c2, c2)])
        self.out2 = _conv(c2, 3)
        for module in self.modules():   # the official init: N(0, 0.02) weights
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        if image.ndim != 4 or image.shape[1] != 3:
            raise InputError(f"Glass-Net: image must be (B, 3, H, W) display RGB in [0, 1]; got {tuple(image.shape)}")
        if image.shape[-2] % 8 or image.shape[-1] % 8:
            raise InputError(f"Glass-Net: H and W must be multiples of 8; got {tuple(image.shape[-2:])} "
                             "(glassnet_render resizes any size)")
        x = image * 2 - 1
        # stage 1: coarse bokeh
        *_, x4 = self.enc1(x)
        y = torch.cat([self.res1(x4), x4], 1)
        for up in self.dec1:
            y = F.relu(up(y))
        y1 = torch.tanh(self.out1(y))
        # stage 2: refine from the coarse result and what it removed
        _, x11, x12, x13 = self.enc2(torch.cat([y1, x - y1], 1))
        y = torch.cat([x13, self.res2(F.relu(self.mid2(x13)))], 1)
        y = F.relu(self.dec2[0](y))
        y = F.relu(self.dec2[1](torch.cat([x12, y], 1)))
        y = F.relu(self.dec2[2](torch.cat([x11, y], 1)))
        y2 = torch.tanh(self.out2(y))
        return (y2 + 1) / 2, (y1 + 1) / 2

    # -- weights ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        """safetensors with the config in the header, written atomically."""
        return save_weights(self, path, {"model": "glass-net", **asdict(self.config)}, metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> GlassNet:
        return load_weights(path, "Glass-Net weights", lambda config: cls(GlassNetConfig(**config)), map_location,
                            model="glass-net")


class PatchDiscriminator(nn.Module):
    """PatchGAN critic with ``layers`` = L stride-2 layers (L = 3: 70x70 receptive field)."""

    def __init__(self, layers: int, ndf: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if not isinstance(layers, int) or layers < 1:
            raise InvalidParameterError(f"PatchDiscriminator.layers must be a positive integer; got {layers!r}")
        widths = [ndf * min(2 ** n, 8) for n in range(layers + 1)]
        convs = [nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1)]
        convs += [nn.Conv2d(widths[n - 1], widths[n], 4, stride=2, padding=1) for n in range(1, layers)]
        convs.append(nn.Conv2d(widths[layers - 1], widths[layers], 4, stride=1))   # padded (1, 2) as TF 'SAME'
        self.convs = nn.ModuleList(convs)
        self.last = nn.Conv2d(widths[layers], widths[layers], 1)

    def forward(self, image: Tensor) -> Tensor:
        """Per-patch scores; ``image`` in [0, 1]."""
        x = image * 2 - 1
        for i, conv in enumerate(self.convs):
            if i == len(self.convs) - 1:
                x = F.pad(x, (1, 2, 1, 2))
            x = F.leaky_relu(instance_norm(conv(x)), 0.2)
        return self.last(x)


class MultiReceptiveFieldCritic(nn.Module):
    """The mean of a shallow (L = 3) and a deep (L = 5) PatchGAN's mean scores: one number per image."""

    def __init__(self, depths: tuple[int, ...] = (3, 5), ndf: int = 64) -> None:
        super().__init__()
        self.depths = tuple(depths)
        self.critics = nn.ModuleList(PatchDiscriminator(d, ndf) for d in self.depths)

    def forward(self, image: Tensor) -> Tensor:
        scores = [critic(image).mean(dim=(1, 2, 3)) for critic in self.critics]
        return torch.stack(scores).mean(0)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, *, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``weight · E[(‖∇D(x̂)‖₂ − 1)²]`` at random points x̂ between real
    and fake images (one mixing factor per image). Differentiable (create_graph) for the critic's step."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score = critic(mixed)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return weight * ((norm - 1) ** 2).mean()


def glassnet_render(model: GlassNet, image: Tensor, *, height: int | None = 1024) -> Tensor:
    """Any-size inference as the paper runs it: resize (bicubic) to ``height`` rows and the proportional
    width rounded up to a multiple of 8, run, resize back; ``height=None`` keeps the size and pads (reflect)
    to a multiple of 8. ``image``: display RGB ``(B, 3, H, W)`` in [0, 1]; returns it rendered, in [0, 1]."""
    rows, cols = image.shape[-2:]
    if height is None:
        pad_h, pad_w = -rows % 8, -cols % 8
        mode = "reflect" if pad_h < rows and pad_w < cols else "replicate"
        x = F.pad(image, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else image
    else:
        if not isinstance(height, int) or height < 8 or height % 8:
            raise InvalidParameterError(f"glassnet_render: height must be a positive multiple of 8 or None; "
                                        f"got {height!r}")
        width = -(-round(cols * height / rows) // 8) * 8
        x = F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
    with torch.no_grad():
        out, _ = model(x)
    if height is None:
        return out[..., :rows, :cols].clamp(0, 1)
    return F.interpolate(out, size=(rows, cols), mode="bicubic", align_corners=False).clamp(0, 1)


class BGGAN(nn.Module):
    """Glass-Net and its multi-receptive-field critic together: what the training loop saves and resumes.

    ``forward(image)`` is the generator's ``(final, coarse)``. ``forward(image, target, adversarial=True)``
    adds the adversarial terms (:meth:`adversarial_terms`) computed inside ``forward`` — so that under
    DistributedDataParallel every parameter is used in the wrapped forward pass.
    """

    def __init__(self, config: GlassNetConfig = GlassNetConfig(), *, critic_depths: tuple[int, ...] = (3, 5),
                 ndf: int = 64) -> None:
        super().__init__()
        self.config, self.critic_depths, self.ndf = config, tuple(critic_depths), ndf
        self.generator = GlassNet(config)
        self.critic = MultiReceptiveFieldCritic(self.critic_depths, ndf)

    def forward(self, image: Tensor, target: Tensor | None = None, *, adversarial: bool = False,
                gp_weight: float = 10.0) -> tuple[Tensor, ...]:
        fake, coarse = self.generator(image)
        if not adversarial:
            return fake, coarse
        if target is None:
            raise InvalidParameterError("BGGAN: adversarial=True needs the target (real) images")
        return (fake, coarse, *self.adversarial_terms(fake, target, gp_weight=gp_weight))

    def adversarial_terms(self, fake: Tensor, real: Tensor, *, gp_weight: float = 10.0) -> tuple[Tensor, Tensor, Tensor]:
        """(generator's −mean D(fake) with D frozen, critic's Wasserstein loss, gradient penalty), in one
        graph whose gradients never cross: the critic's loss sees the generated image detached, the
        generator's term sees the critic's parameters detached. One backward pass and one optimiser step
        then update both networks (simultaneous WGAN-GP updates, one critic step per generator step)."""
        frozen = {name: p.detach() for name, p in self.critic.named_parameters()}
        g_adv = -torch.func.functional_call(self.critic, frozen, (fake,)).mean()
        detached = fake.detach()
        d_wasserstein = self.critic(detached).mean() - self.critic(real).mean()
        penalty = gradient_penalty(self.critic, real, detached, weight=gp_weight)
        return g_adv, d_wasserstein, penalty

    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        config = {"model": "bggan", **asdict(self.config), "critic_depths": list(self.critic_depths), "ndf": self.ndf}
        return save_weights(self, path, config, metadata)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> BGGAN:
        return load_weights(path, "BGGAN weights", cls.from_config, map_location, model="bggan")

    @classmethod
    def from_config(cls, config: dict) -> BGGAN:
        """A BGGAN of the shape :meth:`save` writes into the header (``model`` tag removed)."""
        config = dict(config)
        depths, ndf = tuple(config.pop("critic_depths")), config.pop("ndf")
        return cls(GlassNetConfig(**config), critic_depths=depths, ndf=ndf)


def load_glassnet(path: str | Path, map_location: str | torch.device = "cpu") -> GlassNet:
    """The generator from a Glass-Net file or from a BGGAN training run's ``model.safetensors`` (read once)."""
    builders = {"glass-net": lambda config: GlassNet(GlassNetConfig(**config)), "bggan": BGGAN.from_config}
    tensors, config, meta = read_weights(path, "Glass-Net or BGGAN weights", map_location)
    tag = config.pop("model", None)
    if tag not in builders:
        raise InvalidParameterError(f"{path} does not hold Glass-Net or BGGAN weights (config says "
                                    f"{dict(config, model=tag)!r})")
    model = builders[tag](config)
    model.load_state_dict(tensors)
    model.metadata = meta
    return model.generator if tag == "bggan" else model
