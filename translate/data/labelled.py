"""Image folders for the generative models: a labelled folder (one sub-folder per class, for cgan;
class names are the sub-folder names, sorted) and a plain folder of images (gan, wgan, wgan_gp).
Each sample is {"image": (C, H, W) in [-1, 1], "label": class index (labelled only), "path": str}."""

from __future__ import annotations

from translate.config import DataConfig
from translate.data.datasets import KeyedDataset, set_channels
from translate.data.image_files import list_images, load_image, scan_images, to_tensor_range
from translate.data.layouts import EXTS, Layout, require_dir, train_subfolder
from translate.data.transforms import Preprocess
from translate.errors import UserError
from translate.types import DataInfo


def find_labelled(root, note=lambda msg: None) -> Layout:
    """One sub-folder per class (images anywhere below it); items are (path, class index)."""
    root = train_subfolder(require_dir(root, "class sub-folders"), note)
    classes, problems = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, bad = scan_images(d, recursive=True)
        problems += bad
        if files:
            classes.append((d.name, files))
        else:
            note(f"{d}: no images; this class is left out")
    if not classes:
        raise UserError(f"{root}: no class sub-folders with images (looked for {EXTS}); "
                        f"put each class's images in its own sub-folder, e.g. {root}/cat/1.jpg")
    loose = list_images(root)
    if loose:
        note(f"{root}: {len(loose)} images outside the class sub-folders are left out")
    items = [(p, i) for i, (_, files) in enumerate(classes) for p in files]
    return Layout("labelled", root, items, class_names=tuple(name for name, _ in classes), problems=problems)


class ImageFolderDataset(KeyedDataset):
    """Images of a plain or labelled layout, resized/cropped/flipped by ``Preprocess``."""

    def __init__(self, layout: Layout, cfg: DataConfig, seed: int):
        super().__init__(len(layout.items), seed)
        self.layout, self.cfg = layout, cfg
        self.labelled = bool(layout.class_names)
        self.train_pre = Preprocess(cfg, True, names=("image",))
        self.eval_pre = Preprocess(cfg, False, names=("image",))
        self.info = DataInfo(input_nc=cfg.output_nc, output_nc=cfg.output_nc, size=cfg.crop_size,
                             class_names=layout.class_names)

    def load(self, index, seed, train):
        item = self.layout.items[index]
        path, label = item if isinstance(item, tuple) else (item, None)
        arr = set_channels(load_image(path), self.cfg.output_nc)
        out = (self.train_pre if train else self.eval_pre)(seed, image=arr)
        sample = {"image": to_tensor_range(out["image"]), "path": str(path)}
        if label is not None:
            sample["label"] = label
        return sample

