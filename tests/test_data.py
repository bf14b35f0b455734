from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from translate.config import DataConfig
from translate.data.datasets import PairedDataset, ResumableBatchSampler
from translate.data.image_files import load_image
from translate.data.layouts import detect, find_paired
from translate.data.transforms import Preprocess
from translate.errors import ImageError, UserError


def _save(path, arr, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_detects_each_layout(tmp_path):
    _save(tmp_path / "ab" / "1.png", _noise(16, 32))
    _save(tmp_path / "folders" / "A" / "1.png", _noise(16, 16))
    _save(tmp_path / "folders" / "B" / "1.png", _noise(16, 16))
    _save(tmp_path / "plain" / "1.png", _noise(16, 16))
    _save(tmp_path / "unp" / "trainA" / "1.png", _noise(16, 16))
    _save(tmp_path / "cls" / "cat" / "1.png", _noise(16, 16))
    _save(tmp_path / "cls" / "dog" / "1.png", _noise(16, 16))
    _save(tmp_path / "split" / "train" / "1.png", _noise(16, 32))
    got = {name: detect(tmp_path / name) for name in ("ab", "folders", "plain", "unp", "cls", "split")}
    assert got == {"ab": "paired", "folders": "paired", "plain": "images", "unp": "unpaired", "cls": "labelled", "split": "paired"}


def test_paired_folders_match_by_name_and_name_a_missing_partner(tmp_path):
    _save(tmp_path / "A" / "x.png", _noise(8, 8))
    _save(tmp_path / "B" / "x.jpg", _noise(8, 8))
    assert find_paired(tmp_path).items == [(tmp_path / "A" / "x.png", tmp_path / "B" / "x.jpg")]
    _save(tmp_path / "A" / "y.png", _noise(8, 8))
    with pytest.raises(UserError) as err:
        find_paired(tmp_path)
    assert str(err.value) == f"{tmp_path / 'A' / 'y.png'}: no partner in {tmp_path / 'B'} (expected {tmp_path / 'B' / 'y'}.*); add it or remove this file"


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"no images found .*put A\|B side-by-side images there"):
        find_paired(tmp_path)
    with pytest.raises(UserError, match="folder not found"):
        find_paired(tmp_path / "nope")


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop", "scale_width_and_crop"])
def test_random_crop_and_flip_are_applied_identically_to_both_images(preprocess):
    pre = Preprocess(DataConfig(preprocess=preprocess, load_size=48, crop_size=32), train=True)
    a = _noise(40, 40)
    outs = [pre(seed, A=a, B=a.copy()) for seed in range(12)]
    assert all(np.array_equal(o["A"], o["B"]) and o["A"].shape == (32, 32, 3) for o in outs)
    assert len({o["A"].tobytes() for o in outs}) > 3, "crops/flips should vary with the seed"
    assert np.array_equal(pre(5, A=a, B=a)["A"], outs[5]["A"]), "the same seed gives the same sample"


def test_direction_swaps_the_halves(tmp_path):
    left, right = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    _save(tmp_path / "1.png", np.concatenate([left, right], 1))
    layout = find_paired(tmp_path)
    for direction, a_value in (("AtoB", -1.0), ("BtoA", 1.0)):
        ds = PairedDataset(layout, DataConfig(direction=direction, load_size=32, crop_size=32), seed=0)
        sample = ds[0]
        assert sample["A"].shape == (3, 32, 32)
        assert float(sample["A"].mean()) == a_value and float(sample["B"].mean()) == -a_value


def test_image_modes_exif_and_16_bit(tmp_path):
    gray = _save(tmp_path / "g.png", np.full((6, 4), 100, np.uint8))
    assert load_image(gray).shape == (6, 4, 3) and load_image(gray, 1).shape == (6, 4, 1)
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent -> white
    assert (load_image(_save(tmp_path / "t.png", rgba)) == 255).all()
    pal = Image.fromarray(_noise(4, 4)).convert("P")
    pal.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (4, 4, 3)
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    sixteen.save(tmp_path / "16.png")
    assert (load_image(tmp_path / "16.png") == 255).all()
    img = Image.fromarray(_noise(10, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (20, 10, 3)


def test_truncated_and_non_image_files_name_the_file(tmp_path):
    good = _save(tmp_path / "good.jpg", _noise(64, 64))
    (tmp_path / "trunc.jpg").write_bytes(good.read_bytes()[:300])
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match=rf"^{tmp_path / 'trunc.jpg'}: cannot read image .*; replace or remove the file$"):
        load_image(tmp_path / "trunc.jpg")
    with pytest.raises(ImageError, match=rf"^{tmp_path / 'text.png'}: not an image \(it holds text\); replace or remove the file$"):
        load_image(tmp_path / "text.png")


def test_a_corrupt_file_is_reported_once_and_skipped(tmp_path, caplog):
    _save(tmp_path / "0.png", _noise(16, 32, 0))
    (tmp_path / "1.png").write_bytes(b"broken")
    _save(tmp_path / "2.png", _noise(16, 32, 2))
    ds = PairedDataset(find_paired(tmp_path), DataConfig(load_size=16, crop_size=16), seed=0)
    with caplog.at_level(logging.WARNING, logger="translate"):
        samples = [ds[1], ds[1 + 3]]  # the broken index, in two epochs
    assert [s["path"] for s in samples] == [str(tmp_path / "2.png")] * 2
    assert sum("1.png" in r.message for r in caplog.records) == 1


def test_sampler_resumes_mid_epoch_and_covers_each_epoch():
    full = ResumableBatchSampler(10, 3, seed=1)
    it = iter(full)
    first = [next(it) for _ in range(7)]
    resumed = iter(ResumableBatchSampler(10, 3, seed=1, start=4))
    assert [next(resumed) for _ in range(3)] == first[4:]
    epoch0 = [k for b in first[:3] for k in b]
    assert len(set(epoch0)) == 9 and all(0 <= k < 10 for k in epoch0)
    assert [k % 10 for b in first[3:6] for k in b] != [k for k in epoch0], "each epoch is a new permutation"
    with pytest.raises(UserError, match="has 2 samples but batch_size is 4"):
        ResumableBatchSampler(2, 4, seed=0)


def test_the_resize_is_the_official_codes_pil_bicubic_for_both_halves_and_16_bits():
    """The official code resizes each half with ``transforms.Resize([load, load], BICUBIC)`` on a PIL image:
    with crop == load and no flip, our preprocessed pair is exactly those pixels; 16-bit inputs keep 16 bits
    and agree with the 8-bit result to within the rounding of 8 bits."""
    from torchvision import transforms
    from torchvision.transforms import InterpolationMode

    rng = np.random.default_rng(0)  # photo-like: smooth, away from 0 and 255 (8-bit Pillow clips between its passes)
    a, b = (np.asarray(Image.fromarray(rng.integers(30, 226, (8, 10, 3), dtype=np.uint8)).resize((75, 57), Image.BILINEAR))
            for _ in range(2))
    pre = Preprocess(DataConfig(preprocess="resize_and_crop", load_size=40, crop_size=40, flip=False), train=True)
    out = pre(3, A=a, B=b)
    official = transforms.Resize([40, 40], InterpolationMode.BICUBIC)
    for name, arr in (("A", a), ("B", b)):
        assert np.array_equal(out[name], np.asarray(official(Image.fromarray(arr)))), name
    deep = Preprocess(DataConfig(preprocess="resize_and_crop", load_size=40, crop_size=40, flip=False), train=True)(
        3, A=a.astype(np.uint16) * 257, B=b.astype(np.uint16) * 257)
    assert deep["A"].dtype == np.uint16
    assert np.abs(deep["A"] / 257.0 - out["A"]).max() <= 1.0
