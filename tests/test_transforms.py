"""Transform presets, PCA lighting, scale jitter, five/ten-crop."""
import random

import numpy as np
import paddle
import pytest
from PIL import Image

from paddlecnn.data import transforms as T
from paddlecnn.errors import PaddleCNNError


def ramp_image(w=40, h=30, mode="RGB"):
    """Pixel (x, y) of channel c is (x + 2 y + 50 c) % 256: every crop is recognisable."""
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx + 2 * yy + 50 * c) % 256 for c in range(3)], -1).astype(np.uint8)
    img = Image.fromarray(arr)
    return img if mode == "RGB" else img.convert(mode)


# --------------------------------------------------------------------- ten-crop
def test_ten_crop_numpy_corners_centre_and_mirrors():
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)  # (C, H, W)
    crops = T.ten_crop(x, 3)
    assert crops.shape == (10, 2, 3, 3)
    np.testing.assert_array_equal(crops[0], x[:, :3, :3])        # top-left
    np.testing.assert_array_equal(crops[1], x[:, :3, 3:])        # top-right
    np.testing.assert_array_equal(crops[2], x[:, 2:, :3])        # bottom-left
    np.testing.assert_array_equal(crops[3], x[:, 2:, 3:])        # bottom-right
    np.testing.assert_array_equal(crops[4], x[:, 1:4, 2:5])      # centre: round((5-3)/2)=1, round((6-3)/2)=2
    for k in range(5):
        np.testing.assert_array_equal(crops[5 + k], crops[k][..., ::-1])
    np.testing.assert_array_equal(T.five_crop(x, 3), crops[:5])


def test_ten_crop_paddle_batch_and_rectangular_size():
    x = paddle.arange(2 * 3 * 8 * 8, dtype="float32").reshape([2, 3, 8, 8])  # (N, C, H, W)
    crops = T.ten_crop(x, (4, 6))
    assert isinstance(crops, paddle.Tensor) and crops.shape == [10, 2, 3, 4, 6]
    np.testing.assert_array_equal(crops[3].numpy(), x.numpy()[..., 4:, 2:])
    np.testing.assert_array_equal(crops[8].numpy(), x.numpy()[..., 4:, 2:][..., ::-1])
    with pytest.raises(PaddleCNNError, match="larger than the image"):
        T.ten_crop(x, 9)


def test_tencrop_pil_matches_array_ten_crop():
    img = ramp_image()
    crops = T.TenCrop(20)(img)
    assert len(crops) == 10 and all(c.size == (20, 20) for c in crops)
    ref = T.ten_crop(np.asarray(img).transpose(2, 0, 1), 20)
    for k in range(10):
        np.testing.assert_array_equal(np.asarray(crops[k]).transpose(2, 0, 1), ref[k])
    assert len(T.FiveCrop(10)(img)) == 5


# ------------------------------------------------------------------- PCA lighting
def test_pca_lighting_zero_std_is_identity_and_shift_is_per_image():
    x = np.random.default_rng(0).random((3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(T.PCALighting(0.0)(x), x)
    np.random.seed(1)
    out = T.PCALighting(0.1)(x)
    shift = (out - x).reshape(3, -1)
    assert np.allclose(shift, shift[:, :1], atol=1e-6)       # one RGB offset for every pixel
    assert 0 < np.abs(shift[:, 0]).max() < 0.2               # of the order of 0.1 * 0.2175
    np.random.seed(1)
    alpha = np.random.normal(0, 0.1, 3)
    expected = np.array(T.IMAGENET_EIGVEC) @ (alpha * np.array(T.IMAGENET_EIGVAL))
    np.testing.assert_allclose(shift[:, 0], expected, atol=1e-6)


def test_pca_lighting_gray_uses_luma_of_rgb_shift():
    x = np.full((1, 2, 2), 0.5, np.float32)
    np.random.seed(3)
    out = T.PCALighting(0.1)(x)
    np.random.seed(3)
    alpha = np.random.normal(0, 0.1, 3)
    rgb = np.array(T.IMAGENET_EIGVEC) @ (alpha * np.array(T.IMAGENET_EIGVAL))
    np.testing.assert_allclose(out - x, np.full((1, 2, 2), [0.299, 0.587, 0.114] @ rgb), atol=1e-6)


def test_pca_lighting_from_dataset_finds_the_colour_axis(tmp_path):
    # Pixels vary only along (1, 1, 0)/sqrt(2): the first axis must be that, the rest ~0.
    rng = np.random.default_rng(0)
    lines = []
    for i in range(6):
        t = rng.integers(0, 200, (8, 8))
        arr = np.stack([t, t, np.full_like(t, 30)], -1).astype(np.uint8)
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png 0")
    (tmp_path / "l.txt").write_text("\n".join(lines) + "\n")
    pca = T.PCALighting.from_dataset(tmp_path / "l.txt")
    assert abs(abs(pca.eigvec[:, 0] @ np.array([1, 1, 0]) / np.sqrt(2)) - 1) < 1e-6
    assert pca.eigval[0] > 0.2 and pca.eigval[1] < 1e-6 and pca.eigval[2] < 1e-6


# -------------------------------------------------------------------- scale jitter
def test_scale_jitter_shorter_side_in_range_keeps_aspect():
    img = ramp_image(40, 20)
    random.seed(0)
    sides = set()
    for _ in range(40):
        out = T.ScaleJitter(16, 24)(img)
        assert 16 <= out.height <= 24 and out.width == round(40 * out.height / 20)
        sides.add(out.height)
    assert len(sides) > 4
    with pytest.raises(PaddleCNNError):
        T.ScaleJitter(30, 20)


# ------------------------------------------------------------------------ presets
@pytest.mark.parametrize("preset", T.list_presets())
@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("L", 1)])
def test_every_preset_gives_normalised_chw_float32(preset, mode, channels):
    img = ramp_image(50, 40, mode)
    random.seed(0)
    np.random.seed(0)
    fn = T.build(preset, 32, mean=[0.5] * channels, std=[0.25] * channels)
    x = fn(img)
    assert x.shape == (channels, 32, 32) and x.dtype == np.float32
    assert -2.5 < x.min() and x.max() < 2.5 and x.std() > 0.1


def test_eval_preset_at_native_size_is_plain_normalisation():
    img = ramp_image(32, 32)
    x = T.build("eval", 32, mean=[0.2, 0.4, 0.6], std=[0.5, 0.5, 0.5])(img)
    ref = (np.asarray(img, np.float32).transpose(2, 0, 1) / 255 - np.array([0.2, 0.4, 0.6]).reshape(3, 1, 1)) / 0.5
    np.testing.assert_allclose(x, ref, atol=1e-6)
    assert T.build("eval", 32)(img).max() <= 1.0  # no mean/std: values stay in [0, 1]


def test_sizes_scale_with_input_size():
    # at 224 the alexnet preset resizes to 256, at 64 to round(64 * 256 / 224) = 73
    assert [op.size for op in T.build("alexnet", 224)._pil.transforms[:1]] == [256]
    assert [op.size for op in T.build("alexnet", 64)._pil.transforms[:1]] == [73]
    jitter = T.build("vgg_scale_jitter", 224)._pil.transforms[0]
    assert (jitter.smin, jitter.smax) == (256, 512)


def test_random_presets_vary_and_reseed_repeats():
    img = ramp_image(60, 60)
    fn = T.build("basic", 32)
    random.seed(5)
    a = [fn(img) for _ in range(4)]
    random.seed(5)
    b = [fn(img) for _ in range(4)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not all(np.array_equal(a[0], p) for p in a[1:])
    e = T.build("eval", 32)
    assert np.array_equal(e(img), e(img))


def test_shift_preset_moves_but_never_mirrors():
    """'shift' = 'basic' without the flip: a mark on the left stays on the left, within s/8 pixels."""
    img = Image.new("L", (32, 32), 0)
    img.paste(255, (4, 12, 10, 20))                      # a bright block, columns 4-9
    fn, basic = T.build("shift", 32), T.build("basic", 32)
    random.seed(0)
    columns = [np.flatnonzero(fn(img)[0].max(axis=0) > 0.5) for _ in range(40)]
    assert all(c.size and c.max() < 16 for c in columns)                 # never mirrored to the right
    assert all(abs(int(c.min()) - 4) <= 4 for c in columns)               # shifted by at most s/8 = 4 px
    assert len({int(c.min()) for c in columns}) > 1                       # but shifted
    random.seed(0)
    flipped = [np.flatnonzero(basic(img)[0].max(axis=0) > 0.5).min() >= 16 for _ in range(40)]
    assert 5 < sum(flipped) < 35                                          # basic mirrors about half


def test_bad_preset_arguments():
    with pytest.raises(PaddleCNNError, match="unknown transform preset 'nope'"):
        T.build("nope", 32)
    with pytest.raises(PaddleCNNError, match="positive integer"):
        T.build("eval", 0)
    with pytest.raises(PaddleCNNError, match="both mean and std"):
        T.build("eval", 32, mean=[0.5])
    with pytest.raises(PaddleCNNError, match="3 channels but mean/std have 1"):
        T.build("eval", 8, mean=[0.5], std=[0.5])(ramp_image(8, 8))


@pytest.mark.parametrize("preset, flip", [("basic", True), ("shift", False)])
def test_array_shift_and_flip_equal_paddles_pil_ops_draw_for_draw(preset, flip):
    """basic/shift shift and flip the normalised array; that equals paddle's RandomCrop(padding,
    edge) + RandomHorizontalFlip on the image, with the same random draws."""
    from paddle.vision import transforms as PT

    img = ramp_image(30, 20)
    s, mean, std = 16, [0.2, 0.4, 0.6], [0.5, 0.25, 0.5]
    pil = [PT.Resize(s), PT.CenterCrop(s), PT.RandomCrop(s, padding=s // 8, padding_mode="edge")]
    pil += [PT.RandomHorizontalFlip()] if flip else []
    old = PT.Compose(pil)
    new = T.build(preset, s, mean=mean, std=std)
    for seed in range(12):
        random.seed(seed)
        want = (T.to_array(old(img)) - np.array(mean).reshape(3, 1, 1)) / np.array(std).reshape(3, 1, 1)
        random.seed(seed)
        got = new(img)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert new.fixed_head and T.build("alexnet", s).fixed_head is False


def test_alexnet_no_pca_is_alexnet_without_the_lighting():
    """The AlexNet paper's PCA-lighting ablation: same crops and flips, no colour noise."""
    with_pca, without = T.build("alexnet", 64), T.build("alexnet_no_pca", 64)
    assert [type(op).__name__ for op in with_pca._pil.transforms] == [type(op).__name__ for op in without._pil.transforms]
    assert any(isinstance(op, T.PCALighting) for op in with_pca._array)
    assert not any(isinstance(op, T.PCALighting) for op in without._array)
