"""The end-to-end cases of the benchmark (ours as `translate fit` flags, the official code as train.py options) and
the photo-like JPEGs they train on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One end-to-end configuration: ours as ``translate fit`` flags, the official code as train.py options."""

    name: str
    title: str
    model: str  # ours
    official_model: str  # theirs: pix2pix | cycle_gan
    net_g: str
    load: int
    crop: int
    iters: tuple[int, int]  # the two iteration counts
    options: tuple[tuple[str, int], ...] = ()  # model options beyond the defaults (both codes), e.g. (("ngf", 8),)

    @property
    def paired(self) -> bool:
        return self.model == "pix2pix"


CASES = {c.name: c for c in [
    Case("p2p256", "pix2pix 256", "pix2pix", "pix2pix", "unet_256", 286, 256, (10, 30)),
    Case("p2p128", "pix2pix 128", "pix2pix", "pix2pix", "unet_128", 143, 128, (10, 40)),
    Case("cyc128", "CycleGAN 128", "cyclegan", "cycle_gan", "resnet_9blocks", 143, 128, (4, 12)),
    Case("cyc256", "CycleGAN 256", "cyclegan", "cycle_gan", "resnet_9blocks", 286, 256, (3, 8)),
]}
QUICK = Case("quick", "pix2pix 32 (quick)", "pix2pix", "pix2pix", "unet_32", 32, 32, (3, 6), (("ngf", 8), ("ndf", 8)))


def make_images(folder: Path, paired: bool, count: int, size: int = 256, seed: int = 0) -> Path:
    """``count`` photo-like JPEGs (quality 90): smooth colour noise, fine texture and a few shapes; A|B
    images of 2*size x size in folder/train/ when ``paired``, else size x size in folder/trainA/ and trainB/."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)

    def photo() -> Image.Image:
        low = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
        arr = np.asarray(low, dtype=np.int16) + rng.normal(0, 12, (size, size, 3)).astype(np.int16)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 8))):
            x, y = rng.integers(0, size, 2)
            r = int(rng.integers(size // 16, size // 4))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
        return img.filter(ImageFilter.GaussianBlur(0.8))

    folders = [folder / "train"] if paired else [folder / "trainA", folder / "trainB"]
    for sub in folders:
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            if paired:
                b = photo()
                a = b.filter(ImageFilter.FIND_EDGES).convert("L").convert("RGB")
                img = Image.new("RGB", (2 * size, size))
                img.paste(a, (0, 0))
                img.paste(b, (size, 0))
            else:
                img = photo()
            img.save(sub / f"{i:04d}.jpg", quality=90)
    return folder

