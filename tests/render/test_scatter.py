import numba
import numpy as np
import pytest
import torch

from lensblur.errors import InputError, InvalidParameterError, UnknownNameError
from lensblur.io.colour import srgb_decode
from lensblur.optics.apertures import MIN_RADIUS_PX, footprint, span_table
from lensblur.render import ScatterBlur, scatter_blur
from lensblur.render._kernels import scatter_numba
from lensblur.render._kernels.scatter_numba import scatter_runs, scatter_spans
from lensblur.render.classical import custom_kernel
from lensblur.render.classical.scatter import dilated_coc_reference, scatter_reference
from lensblur.types import Aperture

APERTURES = {
    "circle": Aperture(),
    "hexagon": Aperture(blades=6, rotation_deg=10),
    "rounded-5": Aperture(blades=5, rotation_deg=-33, roundness=0.4),
}


def _heart() -> np.ndarray:
    yy, xx = np.mgrid[-1:1:41j, -1:1:41j]
    shape = ((xx**2 + (yy + 0.1) ** 2 - 0.6) ** 3 - xx**2 * (yy + 0.1) ** 3 * 2) < 0
    return np.where(shape, 1.0, 0.0) + 0.0


ALL_APERTURES = {**APERTURES, "kernel-image": Aperture(kernel=_heart())}


def _random_case(seed, shape=(2, 3, 17, 21), max_radius=5.0):
    rng = np.random.default_rng(seed)
    image = torch.from_numpy(rng.uniform(0, 1, shape).astype(np.float32))
    coc = torch.from_numpy(rng.uniform(-max_radius, max_radius, (shape[0], 1, *shape[2:])).astype(np.float32))
    return image, coc


@pytest.mark.parametrize("backend", ["numba", "torch", "reference"])
@pytest.mark.parametrize("gamma", [1.0, 2.2])
def test_zero_blur_is_identity(tiny_scene, backend, gamma):
    out = scatter_blur(tiny_scene.image, torch.zeros_like(tiny_scene.disparity), backend=backend, gamma=gamma)
    torch.testing.assert_close(out.image, tiny_scene.image, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("name", sorted(APERTURES))
def test_constant_image_stays_constant(backend, name):
    _, coc = _random_case(1, max_radius=9.0)
    image = torch.full((2, 3, 17, 21), 0.37)
    out = scatter_blur(image, coc, aperture=APERTURES[name], backend=backend, gamma=2.0).image
    torch.testing.assert_close(out, image, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(ALL_APERTURES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numba_matches_reference(name, seed):
    image, coc = _random_case(seed)
    aperture = ALL_APERTURES[name]
    fast = scatter_blur(image, coc, aperture=aperture, backend="numba", return_dilated=True)
    slow = scatter_blur(image, coc, aperture=aperture, backend="reference", return_dilated=True)
    assert (fast.image - slow.image).abs().max() <= 1e-4
    assert torch.equal(fast.dilated_coc_px, slow.dilated_coc_px)


@pytest.mark.parametrize("name", ["circle", "hexagon", "kernel-image"])
def test_numba_matches_reference_across_bands_and_thread_counts(name):
    # Kernel images: 100 rows are four 32-row bands dealt out to the threads in turn; sources near every
    # band edge have footprints cut by it, and the image edges cut the widest ones. Parametric shapes:
    # one row chunk per thread, each swept through a 32-row ring that wraps three times. Any thread
    # count gives the same bits.
    image, coc = _random_case(4, shape=(1, 3, 100, 19), max_radius=11.0)
    aperture = ALL_APERTURES[name]
    slow = scatter_blur(image, coc, aperture=aperture, backend="reference", return_dilated=True)
    threads = numba.get_num_threads()
    try:
        results = []
        for count in sorted({1, threads}):
            numba.set_num_threads(count)
            results.append(scatter_blur(image, coc, aperture=aperture, backend="numba", return_dilated=True))
    finally:
        numba.set_num_threads(threads)
    for fast in results:
        assert (fast.image - slow.image).abs().max() <= 1e-4
        assert torch.equal(fast.dilated_coc_px, slow.dilated_coc_px)
    assert torch.equal(results[0].image, results[-1].image)


@pytest.mark.parametrize("name", [*sorted(ALL_APERTURES), "level-hexagon"])
def test_ring_kernels_match_reference_for_any_tile_and_chunk_layout(name):
    # 7-column tiles and 5 row chunks: most footprints cross a tile or chunk edge (their strips are
    # clipped there and redone in the next); 100 rows wrap the 32-row ring. Circle and level hexagon
    # take the mirrored path (strips at -j reused from +j), the other shapes the direct one, the
    # kernel image its run tables.
    aperture = {**ALL_APERTURES, "level-hexagon": Aperture(blades=6)}[name]
    image, coc = _random_case(5, shape=(1, 3, 100, 31), max_radius=11.0)
    img, radius = image[0].numpy(), coc[0, 0].numpy()
    slow = scatter_reference(img.astype(np.float64), radius, aperture)
    if aperture.kernel is None:
        table, extent = span_table(aperture), float(np.abs(radius).max())

        def render(out, rows=(0, None), **layout):
            scatter_spans(img, radius, table, out, extent, MIN_RADIUS_PX, *rows, **layout)
    else:
        bin_index, runs = custom_kernel.kernel_tables(radius, aperture)

        def render(out, rows=(0, None), **layout):
            scatter_runs(img, radius, bin_index, runs, out, MIN_RADIUS_PX, *rows, **layout)
    for tile in (960, 7):
        outs = []
        for chunks in (1, 5):
            out = np.full_like(img, np.nan)
            render(out, tile=tile, chunks=chunks)
            assert np.abs(out - slow).max() <= 1e-4, (tile, chunks)
            outs.append(out)
        # rows rendered in slices (the progress bar's path)
        out = np.full_like(img, np.nan)
        for row0 in range(0, 100, 37):
            render(out, (row0, min(100, row0 + 37)), tile=tile)
        outs.append(out)
        # the row layout does not change a bit (tiles do, by float rounding: a run entering a tile
        # starts that tile's running sums)
        for out in outs[1:]:
            np.testing.assert_array_equal(out, outs[0])


def test_ring_kernels_are_compiled_once_before_the_threads_start():
    # the warm-up call must have the argument types of real calls; otherwise each process's first render
    # would compile a second copy inside a worker thread (and without the SLP vectoriser)
    image, coc = _random_case(6, shape=(2, 3, 40, 50), max_radius=7.0)
    for aperture in (Aperture(), Aperture(blades=5), ALL_APERTURES["kernel-image"]):
        scatter_blur(image, coc, aperture=aperture, gamma=2.2, progress=True)
    assert len(scatter_numba._scatter_spans.signatures) == 1
    assert len(scatter_numba._scatter_runs.signatures) == 1


@pytest.mark.parametrize("name", sorted(APERTURES))
def test_torch_matches_reference(name):
    image, coc = _random_case(5)
    fast = scatter_blur(image, coc, aperture=APERTURES[name], backend="torch").image
    slow = scatter_blur(image, coc, aperture=APERTURES[name], backend="reference").image
    assert (fast - slow).abs().max() <= 1e-4


def test_torch_backend_on_device(device):
    image, coc = _random_case(3)
    out = scatter_blur(image.to(device), coc.to(device)).image
    ref = scatter_blur(image, coc, backend="numba").image
    assert out.device.type == device
    assert (out.cpu() - ref).abs().max() <= 1e-4


def _point_response(aperture, radius=12.0, size=61):
    image = torch.zeros(1, 3, size, size)
    image[0, :, size // 2, size // 2] = 1.0
    coc = torch.full((1, 1, size, size), radius)
    return scatter_blur(image, coc, aperture=aperture).image[0, 0].numpy()


def test_bright_point_spreads_into_the_aperture_footprint():
    radius, size = 12.0, 61
    response = _point_response(Aperture(), radius, size)
    dy0, dx0, cover = footprint(radius, Aperture())
    expected = np.zeros((size, size))
    c = size // 2
    expected[c + dy0: c + dy0 + cover.shape[0], c + dx0: c + dx0 + cover.shape[1]] = cover
    # with one radius everywhere the normaliser is constant in the interior: the response is the footprint
    np.testing.assert_allclose(response / response.max(), expected / expected.max(), atol=1e-5)
    rows = np.flatnonzero(response.max(axis=1) > 0)
    assert rows[0] == c - radius and rows[-1] == c + radius


def test_blade_rotation_turns_the_polygon():
    # 6 blades at 0 deg: a vertex points up (narrow top, flat vertical sides);
    # at 30 deg: a flat top edge and vertices pointing left and right
    up = _point_response(Aperture(blades=6, rotation_deg=0)) > 1e-3
    flat = _point_response(Aperture(blades=6, rotation_deg=30)) > 1e-3
    top_width = lambda mask: mask[np.flatnonzero(mask.any(axis=1))[0]].sum()  # noqa: E731
    side_height = lambda mask: mask[:, np.flatnonzero(mask.any(axis=0))[0]].sum()  # noqa: E731
    assert top_width(up) <= 3 and side_height(up) >= 10
    assert top_width(flat) >= 10 and side_height(flat) <= 3
    assert (np.rot90(up) == flat).mean() > 0.99  # a hexagon turned by 90 deg is the 30 deg hexagon


def test_energy_is_conserved_for_a_uniform_blur():
    rng = np.random.default_rng(7)
    image = torch.zeros(1, 3, 64, 64)
    image[0, :, 20:44, 20:44] = torch.from_numpy(rng.uniform(0, 1, (3, 24, 24)).astype(np.float32))
    out = scatter_blur(image, torch.full((1, 1, 64, 64), 6.3), aperture=Aperture(blades=7)).image
    torch.testing.assert_close(out.sum(), image.sum(), rtol=1e-4, atol=0)


def test_in_focus_region_stays_sharp():
    rng = np.random.default_rng(3)
    image = torch.from_numpy(rng.uniform(0, 1, (1, 3, 40, 80)).astype(np.float32))
    coc = torch.zeros(1, 1, 40, 80)
    coc[..., 40:] = 8.0  # right half blurred
    out = scatter_blur(image, coc).image
    # pixels farther than the largest radius (+1 px of footprint edge) from the blurred half are untouched
    torch.testing.assert_close(out[..., :31], image[..., :31], atol=1e-6, rtol=0)
    assert (out[..., 45:] - image[..., 45:]).abs().mean() > 0.05


def test_dilated_defocus_is_the_signed_max_over_covering_discs():
    coc = torch.zeros(1, 1, 21, 21)
    coc[0, 0, 10, 10] = 5.6
    coc[0, 0, 0, 0] = -3.0
    dilated = scatter_blur(torch.rand(1, 3, 21, 21), coc, return_dilated=True).dilated_coc_px[0, 0]
    yy, xx = np.mgrid[0:21, 0:21]
    inside = np.hypot(xx - 10, yy - 10) <= 5.0
    assert (dilated.numpy()[inside] == 5).all()
    assert dilated[0, 0] == -3 and dilated[20, 20] == 0  # own value kept where nothing larger covers


@pytest.mark.parametrize("name", sorted(APERTURES))
@pytest.mark.parametrize("step", [0.25, 0.5])
def test_dilated_defocus_equals_reference_when_spans_end_on_half_pixels(name, step):
    # radii on a quarter / half pixel grid put strip edges on table samples and span ends on x.5, where
    # a kernel that rounds differently from the definition flips a whole pixel
    rng = np.random.default_rng(int(step * 8))
    radius = (rng.integers(-36, 37, (40, 37)) * step).astype(np.float32)
    fast = scatter_blur(torch.rand(1, 3, 40, 37), torch.from_numpy(radius)[None, None], aperture=APERTURES[name],
                        return_dilated=True).dilated_coc_px[0, 0].numpy()
    np.testing.assert_array_equal(fast, dilated_coc_reference(radius, APERTURES[name]))


def test_module_equals_function(tiny_scene):
    coc = 6 * (tiny_scene.disparity - 0.5)
    module = ScatterBlur(Aperture(blades=5), gamma=2.0)
    expected = scatter_blur(tiny_scene.image, coc, aperture=Aperture(blades=5), gamma=2.0).image
    torch.testing.assert_close(module(tiny_scene.image, coc), expected)


def test_gradient_wrt_image_float64():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.uniform(0.1, 1, (1, 3, 6, 7))).requires_grad_(True)
    coc = torch.from_numpy(rng.uniform(-2, 2, (1, 1, 6, 7)))
    assert torch.autograd.gradcheck(lambda x: scatter_blur(x, coc, gamma=2.0).image, (image,))


def test_errors_name_the_argument_and_the_fix(tiny_scene):
    image = tiny_scene.image
    with pytest.raises(InputError, match=r"coc_px is \(1, 1, 16, 16\) but image is \(1, 3, 32, 32\)"):
        scatter_blur(image, torch.zeros(1, 1, 16, 16))
    with pytest.raises(InputError, match="image has negative values"):
        scatter_blur(image - 2, torch.zeros(1, 1, 32, 32))
    with pytest.raises(InputError, match="coc_px contains NaN or inf"):
        scatter_blur(image, torch.full((1, 1, 32, 32), float("nan")))
    with pytest.raises(InputError, match=r"image must have shape \(B, 3, H, W\)"):
        scatter_blur(image[:, :2], torch.zeros(1, 1, 32, 32))
    with pytest.raises(UnknownNameError, match="Did you mean 'numba'"):
        scatter_blur(image, torch.zeros(1, 1, 32, 32), backend="numbaa")
    with pytest.raises(InvalidParameterError, match=r"gamma must be None \(linear light, the default\) or BokehMe.s γ on display values"):
        scatter_blur(image, torch.zeros(1, 1, 32, 32), gamma=0)
    with pytest.raises(InvalidParameterError, match="custom kernel apertures are rendered by"):
        scatter_blur(image, torch.zeros(1, 1, 32, 32), aperture=Aperture(kernel=_heart()), backend="torch")


@pytest.mark.parametrize("exponent", [2.2, 1 / 2.2, 5.0])
def test_gamma_power_equals_pow_including_zero_and_gradients(exponent):
    from lensblur.render.classical.scatter import _power

    x = torch.tensor([0.0, 1e-6, 0.01, 0.5, 1.0, 3.0])
    torch.testing.assert_close(_power(x, exponent), x**exponent, rtol=1e-6, atol=1e-7)
    assert _power(x, exponent).data_ptr() != x.data_ptr()  # the input is left as it was
    y = torch.tensor([0.25, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    _power(y, exponent).sum().backward()
    torch.testing.assert_close(y.grad, exponent * y.detach() ** (exponent - 1))


@pytest.mark.parametrize("gamma", [None, 1.0, 2.2, 4.0])
def test_gamma_is_bokehmes_gamma_on_display_values(gamma):
    """Two display values d1, d0 mixed with a known share f per pixel: BokehMe gives (f·d1^γ + (1−f)·d0^γ)^(1/γ)
    in display values; gamma=None mixes linear light, f·L1 + (1−f)·L0."""
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    bright = (((yy // 3) + (xx // 5)) % 2 == 0).float()[None, None]
    coc = torch.full((1, 1, 40, 40), 4.5)
    share = scatter_blur(bright.expand(1, 3, 40, 40).contiguous(), coc).image  # f, the scatter's weights
    d1, d0 = 0.9, 0.2
    display = (d1 * bright + d0 * (1 - bright)).expand(1, 3, 40, 40).contiguous()
    linear = srgb_decode(display)
    out = scatter_blur(linear, coc, gamma=gamma).image
    if gamma is None:
        expected = share * srgb_decode(torch.tensor(d1)) + (1 - share) * srgb_decode(torch.tensor(d0))
    else:
        expected = srgb_decode((share * d1 ** gamma + (1 - share) * d0 ** gamma) ** (1 / gamma))
    assert torch.allclose(out, expected, atol=2e-5)
    assert 0.2 < float(share.min()) and float(share.max()) < 0.8  # a real mixture, not a trivial case
