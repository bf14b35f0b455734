"""The data tools in datasets/ (make_pairs, make_edges, download) and the demos' data preparation, run
in-process on tiny images made here; download.py against a local HTTP server with Range support."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


make_pairs = load_script("datasets/make_pairs.py")
make_edges = load_script("datasets/make_edges.py")
download = load_script("datasets/download.py")


def _image(path: Path, size=(16, 16), color=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _shoe(size: int = 64) -> np.ndarray:
    """A dark rounded shape on white, like a product shot."""
    img = Image.new("RGB", (size, size), "white")
    from PIL import ImageDraw

    ImageDraw.Draw(img).rounded_rectangle((size // 8, size // 3, size - size // 8, size - size // 6), radius=size // 6, fill=(60, 40, 30))
    return np.asarray(img)


# make_pairs ---------------------------------------------------------------------------------------------


def test_make_pairs_combines_matching_names_and_resizes_b(tmp_path, capsys):
    for i in range(3):
        _image(tmp_path / "A" / f"{i}.jpg", (16, 12))
        _image(tmp_path / "B" / f"{i}.png", (20, 10) if i == 0 else (16, 12), (10, 200, 10))
    assert make_pairs.main([str(tmp_path / "A"), str(tmp_path / "B"), str(tmp_path / "out")]) == 0
    out = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in out] == ["0.png", "1.png", "2.png"]
    ab = np.asarray(Image.open(out[0]))
    assert ab.shape == (12, 32, 3) and ab[6, 4, 0] > 150 and ab[6, 20, 1] > 150  # A left (red), B right (green)
    assert "1 B image(s) differ in size" in capsys.readouterr().out
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


def test_make_pairs_name_without_partner_is_one_line_exit_2(tmp_path, capsys):
    _image(tmp_path / "A" / "x.png")
    _image(tmp_path / "A" / "lonely.png")
    _image(tmp_path / "B" / "x.jpg")
    assert make_pairs.main([str(tmp_path / "A"), str(tmp_path / "B"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "lonely.png has no partner" in err and "add one with the same name" in err
    assert not (tmp_path / "out").exists()
    assert make_pairs.main([str(tmp_path / "A"), str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "missing: folder not found" in capsys.readouterr().err
    assert make_pairs.main([str(tmp_path / "A"), str(tmp_path / "B"), str(tmp_path / "A" / "out")]) == 2


def test_make_pairs_split_is_reproducible(tmp_path):
    for i in range(20):
        _image(tmp_path / "A" / f"{i:02d}.png")
        _image(tmp_path / "B" / f"{i:02d}.png")
    args = [str(tmp_path / "A"), str(tmp_path / "B")]
    for name in ("o1", "o2"):
        assert make_pairs.main(args + [str(tmp_path / name), "--split", "0.8", "0.1", "0.1", "--seed", "0"]) == 0
    listing = {s: sorted(p.name for p in (tmp_path / "o1" / s).iterdir()) for s in ("train", "val", "test")}
    assert [len(v) for v in listing.values()] == [16, 2, 2]
    assert listing == {s: sorted(p.name for p in (tmp_path / "o2" / s).iterdir()) for s in ("train", "val", "test")}
    other = make_pairs.split_names([f"{i:02d}" for i in range(20)], (0.8, 0.1, 0.1), seed=1)
    assert sorted(k for k, v in other.items() if v == "val") != [Path(n).stem for n in listing["val"]]
    # the split subcommand copies a plain folder
    assert make_pairs.main(["split", str(tmp_path / "A"), str(tmp_path / "s"), "--split", "0.5", "0.5", "0"]) == 0
    assert len(list((tmp_path / "s" / "train").iterdir())) == 10 and not (tmp_path / "s" / "test").exists()
    assert make_pairs.main(["split", str(tmp_path / "A"), str(tmp_path / "s2"), "--split", "0.5", "0.6", "0"]) == 2


# make_edges ---------------------------------------------------------------------------------------------


def test_edges_are_thin_black_lines_on_white():
    sketch = make_edges.edges_of(_shoe(64))
    assert sketch.shape == (64, 64, 3) and set(np.unique(sketch)) <= {0, 255}
    lines = sketch[:, :, 0] == 0
    assert 0.01 < lines.mean() < 0.2  # an outline, not a filled shape
    assert not lines[:10].any()  # the white background gives no edges
    assert not (lines[1:, 1:] & lines[:-1, 1:] & lines[1:, :-1] & lines[:-1, :-1]).any()  # one pixel wide: no 2x2 block
    assert (make_edges.edges_of(np.full((32, 32, 3), 255, np.uint8)) == 255).all()


def test_drop_specks_keeps_lines_only():
    mask = np.zeros((32, 32), bool)
    mask[5, 2:30] = True  # a line
    mask[20, 20] = True  # a dot
    mask[25, 5:8] = True  # a speck
    assert make_edges.drop_specks(mask, 12).sum() == 28


def test_make_edges_writes_edges_photo_pairs(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(_shoe(48)).resize((60, 40)).save(photos / f"p{i}.jpg")
    (photos / "broken.jpg").write_bytes(b"not an image")
    code = make_edges.main([str(photos), str(tmp_path / "pairs"), "--size", "32", "--fit", "crop", "--split", "0.5", "0.5", "0"])
    assert code == 0
    written = sorted((tmp_path / "pairs").rglob("*.png"))
    assert len(written) == 4 and {p.parent.name for p in written} == {"train", "val"}
    ab = np.asarray(Image.open(written[0]))
    assert ab.shape == (32, 64, 3) and set(np.unique(ab[:, :32])) <= {0, 255}
    assert "skipped:" in (out := capsys.readouterr().out) and "broken.jpg" in out
    assert make_edges.main([str(tmp_path / "nothing"), str(tmp_path / "o")]) == 2


# download -----------------------------------------------------------------------------------------------


@pytest.fixture
def server(file_server):
    return file_server


def _png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (8, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _tar_gz(name: str, folders=("train", "val", "test")) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i, folder in enumerate(folders):
            for j in range(2):
                data = _png_bytes(10 * i + j)
                info = tarfile.TarInfo(f"{name}/{folder}/{j}.png")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(name: str, members: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in members is None and ("trainA", "trainB", "testA", "testB") or ():
            zf.writestr(f"{name}/{folder}/1.png", _png_bytes(len(folder)))
        for member, data in (members or {}).items():
            zf.writestr(member, data)
    return buf.getvalue()


def test_download_pix2pix_tarball(server, tmp_path, capsys):
    server.files["/facades.tar.gz"] = _tar_gz("facades")
    argv = ["facades", "--to", str(tmp_path), "--url", f"{server.url}/facades.tar.gz", "--timeout", "5"]
    assert download.main(argv) == 0
    for folder in ("train", "val", "test"):
        assert len(list((tmp_path / "facades" / folder).glob("*.png"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facades"]  # archive removed, no .part, no temporary folder
    out = capsys.readouterr().out
    assert "translate fit --paired" in out and "--direction BtoA" in out
    assert download.main(argv) == 0 and "already there" in capsys.readouterr().out
    assert [r for _, r in server.seen] == [None]  # the second run asked the server nothing


def test_download_cyclegan_zip_through_a_mirror(server, tmp_path, monkeypatch):
    server.files["/cyclegan/datasets/horse2zebra.zip"] = _zip("horse2zebra")
    monkeypatch.setenv(download.MIRROR_ENV, server.url)
    assert download.main(["horse2zebra", "--to", str(tmp_path), "--timeout", "5", "--keep-archive"]) == 0
    assert sorted(p.name for p in (tmp_path / "horse2zebra").iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert (tmp_path / "horse2zebra.zip").is_file()


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, capsys):
    body = _tar_gz("facades")
    server.files["/f.tar.gz"], server.cut = body, True
    argv = ["facades", "--to", str(tmp_path), "--url", f"{server.url}/f.tar.gz", "--timeout", "5"]
    assert download.main(argv) == 1
    err = capsys.readouterr().err
    assert "interrupted" in err and "run the same command again to resume" in err
    part = tmp_path / "facades.part"
    assert 0 < part.stat().st_size < len(body) and not (tmp_path / "facades").exists()
    assert download.main(argv) == 0
    assert [r for _, r in server.seen] == [None, f"bytes={len(body) // 2}-"]  # the rerun asked only for what was missing
    assert "resuming facades.part" in capsys.readouterr().out
    assert len(list((tmp_path / "facades" / "val").glob("*.png"))) == 2


def test_corrupt_downloads_are_refused_and_nothing_is_unpacked(server, tmp_path, capsys):
    body = _tar_gz("facades")
    server.files["/f.tar.gz"] = body
    url = ["--url", f"{server.url}/f.tar.gz", "--timeout", "5"]
    # a wrong checksum: the download is removed, and the folder it made
    assert download.main(["facades", "--to", str(tmp_path / "a"), "--sha256", "0" * 64] + url) == 1
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "a").exists()
    # a truncated archive served whole (its length matches, its content does not)
    server.files["/f.tar.gz"] = body[: len(body) // 2]
    assert download.main(["facades", "--to", str(tmp_path / "b")] + url) == 1
    assert "damaged or truncated" in capsys.readouterr().err and not (tmp_path / "b").exists()
    # an archive with a member that climbs out, and one without the expected folders
    server.files["/evil.zip"] = _zip("x", {"x/trainA/1.png": _png_bytes(0), "../../escape.txt": b"boo"})
    assert download.main(["evil", "--to", str(tmp_path / "c"), "--url", f"{server.url}/evil.zip", "--timeout", "5"]) == 1
    assert "refused" in capsys.readouterr().err and not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "c").exists()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:  # a link to a file outside
        link = tarfile.TarInfo("facades/train/1.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    server.files["/f.tar.gz"] = buf.getvalue()
    assert download.main(["facades", "--to", str(tmp_path / "e")] + url) == 1
    assert "a link or device" in capsys.readouterr().err and not (tmp_path / "e").exists()
    server.files["/f.tar.gz"] = _tar_gz("facades", folders=("train",))
    assert download.main(["facades", "--to", str(tmp_path / "d")] + url) == 1
    assert "val/" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_unsafe_member_names():
    for name in ("/etc/passwd", "../up.png", "a/../../up.png", "..\\up.png", "C:/x.png", "C:x.png"):
        assert download._unsafe(name), name
    for name in ("facades/train/1.jpg", "a..b/c.png", "x/.hidden"):
        assert not download._unsafe(name), name


def test_download_usage_errors(tmp_path, capsys):
    assert download.main(["cityscapes"]) == 2 and "cityscapes-dataset.com" in capsys.readouterr().err
    assert download.main(["nosuch", "--to", str(tmp_path)]) == 2 and "known:" in capsys.readouterr().err
    assert download.main(["../x", "--url", "http://127.0.0.1:9/x.zip"]) == 2
    assert download.main(["--list"]) == 0 and "efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz" in capsys.readouterr().out


def test_download_unreachable_server_fails_fast(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert download.main(["facades", "--to", str(tmp_path), "--url", f"http://127.0.0.1:{port}/f.tar.gz", "--timeout", "2"]) == 1
    assert "cannot connect" in capsys.readouterr().err


# --help from the command line (one subprocess; the other tools share its start-up) ------------------------


def test_help_from_the_command_line():
    done = subprocess.run([sys.executable, str(ROOT / "datasets" / "download.py"), "--help"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("usage: download.py")
    for tool in (make_pairs, make_edges, download):
        assert tool.build_parser().format_help().startswith(f"usage: {tool.__name__}.py")


# the demos' data preparation (their training is the engine's; the demos run in test_pretrained.py) -------


def test_sketch2photo_makes_pairs_from_a_folder_of_photos(tmp_path):
    from translate.demo import photo_pairs

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        Image.fromarray(_shoe(40)).save(photos / f"shoe{i}.jpg")
    data = photo_pairs(photos, tmp_path / "runs" / "s2p-pairs")
    train, val = sorted((data / "train").iterdir()), sorted((data / "val").iterdir())
    assert len(train) == 4 and len(val) == 1
    ab = np.asarray(Image.open(val[0]))
    assert ab.shape == (256, 512, 3) and set(np.unique(ab[:, :256])) <= {0, 255}  # edges | photo at 256
    assert np.array_equal(ab[:, :256], make_edges.edges_of(ab[:, 256:]))  # the same edges as datasets/make_edges.py
    assert photo_pairs(photos, tmp_path / "runs" / "s2p-pairs") == data  # made once, then reused


def test_hand_drawn_sketch_is_black_strokes_on_white():
    from translate.demo import hand_drawn_shoe

    sketch = hand_drawn_shoe(64)
    assert sketch.shape == (64, 64, 3) and sketch.dtype == np.uint8
    dark = sketch.mean(2) < 128
    assert 0.02 < dark.mean() < 0.3 and (sketch[0] == 255).all()
