import numpy as np
from PIL import Image

from translate.pictures import write_gallery


def test_gallery_lays_out_rows_and_columns_with_gaps(tmp_path):
    a = np.zeros((10, 10, 3), np.uint8)
    b = np.full((20, 20, 1), 200, np.uint8)  # scaled to the first tile's height, gray -> RGB
    png = write_gallery(tmp_path, "val", ["in", "out"], [[a, b], [a, a]], title="t")
    img = np.asarray(Image.open(png))
    assert img.shape == (10 + 4 + 10, 10 + 4 + 10, 3)
    assert (img[:10, 10:14] == 255).all() and (img[10:14] == 255).all()
    assert (img[:10, 14:] == 200).all()
    assert 'src="val.png"' in (tmp_path / "index.html").read_text() and "in | out" in (tmp_path / "index.html").read_text()
