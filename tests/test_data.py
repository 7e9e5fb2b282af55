"""recognizer.data: real folders (ORL, LFW subset), LFW pairs, synthetic faces, splits, and every bad input."""
from __future__ import annotations

import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from sklearn.utils import Bunch

from recognizer.data import fetch_sklearn, load_dataset, synthetic_faces
from recognizer.faces import DataError, FaceDataset, PairSet
from recognizer.image_files import identity_folder_digest, load_identity_folders
from recognizer.pairs import load_lfw_pairs, make_pairs
from recognizer.splits import private_split, split_identities, split_per_identity

LFW_SIZE = 64  # the LFW subset is 1,190 images; a smaller side keeps the module fast


@pytest.fixture(scope="module")
def orl(shared_data) -> FaceDataset:
    return load_identity_folders(shared_data("orl"))


@pytest.fixture(scope="module")
def lfw(shared_data) -> FaceDataset:
    return load_identity_folders(shared_data("lfw_subset"), image_size=LFW_SIZE)


def _indexed_dataset(counts: list[int]) -> FaceDataset:
    """Image ``i`` is filled with the value ``i``, so pairs can be traced back to dataset indices."""
    labels = torch.tensor([k for k, n in enumerate(counts) for _ in range(n)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).contiguous()
    return FaceDataset(images, labels, [f"id{k}" for k in range(len(counts))], [""] * len(labels))


# ---------------------------------------------------------------------------------------------- real folders


@pytest.mark.data
def test_orl_loads_400_gray_images_labelled_by_folder(orl, shared_data):
    assert orl.images.shape == (400, 1, 112, 112) and orl.images.dtype == torch.uint8
    assert orl.num_identities == 40 and orl.image_channels == 1 and len(orl) == 400
    assert orl.names == [f"s{k:02d}" for k in range(1, 41)]
    assert torch.equal(orl.labels, torch.arange(40).repeat_interleave(10))
    assert all(Path(p).parent.name == orl.names[label] for p, label in zip(orl.paths, orl.labels.tolist()))
    # Pixels are the file's, resized from 92×112 to 112×112.
    raw = cv2.imread(str(shared_data("orl") / "s07" / "03.pgm"), cv2.IMREAD_UNCHANGED)
    ours = orl.images[orl.paths.index(str(shared_data("orl") / "s07" / "03.pgm")), 0].numpy()
    expected = cv2.resize(raw, (112, 112), interpolation=cv2.INTER_LINEAR)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    assert orl.float_images().dtype == torch.float32 and float(orl.float_images().max()) <= 255.0


@pytest.mark.data
def test_lfw_subset_loads_as_rgb(lfw):
    assert lfw.images.shape == (1190, 3, LFW_SIZE, LFW_SIZE)
    assert lfw.names[:2] == ["Ariel_Sharon", "Arnold_Schwarzenegger"] and lfw.num_identities == 10
    counts = torch.bincount(lfw.labels).tolist()
    assert counts[lfw.names.index("George_W_Bush")] == 530 and counts[lfw.names.index("Ariel_Sharon")] == 10


def test_color_files_are_converted_from_bgr_to_rgb(tmp_path):
    red_bgr = np.zeros((16, 16, 3), np.uint8)
    red_bgr[..., 2] = 255
    for name in ("ann", "bob"):
        (tmp_path / name).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), red_bgr)
    ds = load_identity_folders(tmp_path, image_size=16)
    assert ds.image_channels == 3
    assert (ds.images[:, 0] == 255).all() and (ds.images[:, 1:] == 0).all()
    gray = load_identity_folders(tmp_path, image_size=16, color="gray")
    assert gray.image_channels == 1 and (gray.images == round(0.299 * 255)).all()


# ---------------------------------------------------------------------------------------------- LFW pairs


@pytest.mark.data
def test_pairs_in_subset_gives_the_24_same_pairs(shared_data, lfw):
    root = shared_data("lfw_subset")
    pairs = load_lfw_pairs(root / "pairs_in_subset.txt", root, image_size=LFW_SIZE, require_both_kinds=False)
    assert isinstance(pairs, PairSet) and len(pairs) == 24 and pairs.skipped == 0
    assert pairs.same.all() and pairs.images_a.shape == (24, 3, LFW_SIZE, LFW_SIZE)
    assert torch.equal(pairs.fold, torch.arange(24) % 10)  # no header: folds dealt round robin
    # First line "Tony_Blair 18 86": the same pixels the folder loader gives for those files.
    for images, index in ((pairs.images_a, 18), (pairs.images_b, 86)):
        path = str(root / "Tony_Blair" / f"Tony_Blair_{index:04d}.jpg")
        assert torch.equal(images[0], lfw.images[lfw.paths.index(path)])


@pytest.mark.data
def test_official_pairs_with_subset_root_skip_the_missing(shared_data):
    root = shared_data("lfw_subset")
    official = load_lfw_pairs(root / "pairs.txt", root, image_size=LFW_SIZE, require_both_kinds=False)
    subset = load_lfw_pairs(root / "pairs_in_subset.txt", root, image_size=LFW_SIZE, require_both_kinds=False)
    assert official.skipped == 6000 - 24 and len(official) == 24 and official.same.all()
    assert torch.equal(official.images_a, subset.images_a) and torch.equal(official.images_b, subset.images_b)
    # SOURCE.md: the 24 come from folds 2, 4, 6, 7 and 10 (1-based).
    assert set(official.fold.tolist()) == {1, 3, 5, 6, 9}


def test_lfw_pairs_parse_both_kinds_and_report_bad_files(tmp_path, lfw_tree):
    root = lfw_tree
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("1\t1\nAnn\t1\t2\nAnn\t1\tBob\t2\nBob 1 9\n")  # header, same, different, missing
    pairs = load_lfw_pairs(pairs_file, root, image_size=16)
    assert pairs.same.tolist() == [True, False] and pairs.skipped == 1
    assert pairs.images_a.shape == pairs.images_b.shape == (2, 1, 16, 16)
    assert pairs.fold.tolist() == [0, 0]  # header "1 1": one fold of one same + one different pair
    with pytest.raises(DataError, match="Bob_0009.jpg' is missing"):
        load_lfw_pairs(pairs_file, root, image_size=16, skip_missing=False)
    pairs_file.write_text("Ann\t1\n")
    with pytest.raises(DataError, match="cannot parse 'Ann 1'"):
        load_lfw_pairs(pairs_file, root, image_size=16)
    pairs_file.write_text("Zed\t1\t2\n")
    with pytest.raises(DataError, match="none of the pairs"):
        load_lfw_pairs(pairs_file, root, image_size=16)


def test_make_pairs_balanced_distinct_and_deterministic():
    ds = _indexed_dataset([10] * 8 + [1])  # the last identity cannot give a same pair
    pairs = make_pairs(ds, num_pairs=120, seed=3)
    a = pairs.images_a[:, 0, 0, 0].long()
    b = pairs.images_b[:, 0, 0, 0].long()
    assert int(pairs.same.sum()) == 60 and len(pairs) == 120
    assert torch.equal(ds.labels[a] == ds.labels[b], pairs.same)
    assert (a != b).all() and len({(x, y) for x, y in zip(a.tolist(), b.tolist())}) == 120
    for fold in range(10):  # every fold balanced too
        in_fold = pairs.fold == fold
        assert int(in_fold.sum()) == 12 and int(pairs.same[in_fold].sum()) == 6
    again = make_pairs(ds, num_pairs=120, seed=3)
    other = make_pairs(ds, num_pairs=120, seed=4)
    assert torch.equal(again.images_a, pairs.images_a) and torch.equal(again.images_b, pairs.images_b)
    assert not torch.equal(other.images_a, pairs.images_a)
    with pytest.raises(DataError, match="360 same-identity"):
        make_pairs(ds, num_pairs=1000)


# ---------------------------------------------------------------------------------------------- splits


@pytest.mark.data
def test_split_per_identity_on_orl_is_5_5_disjoint_and_seeded(orl):
    train, test = split_per_identity(orl, seed=0)
    assert len(train) == len(test) == 200
    assert torch.bincount(train.labels).tolist() == [5] * 40 == torch.bincount(test.labels).tolist()
    assert set(train.paths).isdisjoint(test.paths) and set(train.paths) | set(test.paths) == set(orl.paths)
    assert train.names == orl.names
    again, _ = split_per_identity(orl, seed=0)
    other, _ = split_per_identity(orl, seed=1)
    assert again.paths == train.paths and other.paths != train.paths
    three, rest = split_per_identity(orl, train_per_identity=3, seed=0)
    assert len(three) == 120 and len(rest) == 280
    with pytest.raises(DataError, match="cannot put 10 in train"):
        split_per_identity(orl, train_per_identity=10)


def test_split_per_identity_rejects_single_image_identity():
    with pytest.raises(DataError, match="'id1' has 1 image"):
        split_per_identity(_indexed_dataset([4, 1]))


@pytest.mark.data
def test_split_identities_is_disjoint_relabelled_and_seeded(orl):
    private, auxiliary = split_identities(orl, private_fraction=0.25, seed=0)
    assert private.num_identities == 10 and auxiliary.num_identities == 30
    assert set(private.names).isdisjoint(auxiliary.names) and set(private.names) | set(auxiliary.names) == set(
        orl.names
    )
    for part in (private, auxiliary):
        assert torch.equal(torch.unique(part.labels), torch.arange(part.num_identities))
        assert all(Path(p).parent.name == part.names[label] for p, label in zip(part.paths, part.labels.tolist()))
    assert split_identities(orl, 0.25, seed=0)[0].names == private.names
    assert split_identities(orl, 0.25, seed=1)[0].names != private.names
    with pytest.raises(DataError, match="private_fraction"):
        split_identities(orl, private_fraction=1.0)


# ---------------------------------------------------------------------------------------------- synthetic faces


def test_synthetic_faces_are_deterministic_per_seed():
    ds = synthetic_faces(num_identities=6, images_per_identity=4, image_size=32, seed=7)
    assert ds.images.shape == (24, 1, 32, 32) and ds.names[0] == "synthetic_000" and ds.paths == [""] * 24
    assert torch.equal(ds.labels, torch.arange(6).repeat_interleave(4))
    assert torch.equal(ds.images, synthetic_faces(6, 4, 32, seed=7).images)
    assert not torch.equal(ds.images, synthetic_faces(6, 4, 32, seed=8).images)
    # Identity k depends only on (seed, k): fewer identities give a prefix.
    assert torch.equal(synthetic_faces(3, 4, 32, seed=7).images, ds.images[:12])
    assert synthetic_faces(2, 2, 16, color=True).images.shape == (4, 3, 16, 16)
    loaded = load_dataset("synthetic", image_size=32, seed=7)
    assert torch.equal(loaded.images, synthetic_faces(image_size=32, seed=7).images)


def test_synthetic_faces_are_identity_structured_but_not_trivial():
    # Measured: nearest centroid on raw pixels of held-out images scores 0.29 with seed 0 (chance 0.05; seeds
    # 0..19 give 0.19-0.29), while a 4-layer CNN reaches 0.86 at 64×64. Pose, expression and lighting make raw
    # pixels a weak but real cue.
    train, test = split_per_identity(synthetic_faces(seed=0), seed=0)
    x, y = train.float_images().flatten(1), test.float_images().flatten(1)
    centroids = torch.stack([x[train.labels == k].mean(0) for k in range(train.num_identities)])
    accuracy = float((torch.cdist(y, centroids).argmin(1) == test.labels).float().mean())
    assert 0.15 < accuracy < 0.6


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_path_and_file_instead_of_folder(tmp_path):
    with pytest.raises(DataError, match="data path '.*nowhere' does not exist"):
        load_identity_folders(tmp_path / "nowhere")
    with pytest.raises(DataError, match="does not exist; pass a folder .* or one of 'synthetic'"):
        load_dataset(str(tmp_path / "nowhere"))
    (tmp_path / "file.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="is not a directory"):
        load_identity_folders(tmp_path / "file.jpg")


def test_folders_without_images(tmp_path):
    with pytest.raises(DataError, match=r"contains no identity folders with images \(expected ROOT/<identity>/"):
        load_identity_folders(tmp_path)
    for name in ("ann", "bob"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text("not a face")
    with pytest.raises(DataError, match="contains no identity folders with images"):
        load_identity_folders(tmp_path)


def test_identity_with_one_image_raises_or_is_dropped(image_folder):
    root = image_folder({"ann": 2, "bob": 1, "cid": 3})
    with pytest.raises(DataError, match="identity 'bob' .* has 1 readable image.*--drop-small-identities"):
        load_identity_folders(root, image_size=16)
    with pytest.warns(UserWarning, match="dropped 1 identities .*'bob'"):
        ds = load_identity_folders(root, image_size=16, drop_small=True)
    assert ds.names == ["ann", "cid"] and ds.labels.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="1 identity folder"):
        load_identity_folders(image_folder({"ann": 2}, root="single"), image_size=16)


def test_a_folder_digest_follows_the_content_not_the_path(image_folder, tmp_path):
    import shutil
    root = image_folder({"ann": 2, "bob": 3})
    copy = shutil.copytree(root, tmp_path / "elsewhere" / "faces")
    (copy / "notes.txt").write_text("not a face")  # not an image: not part of the data set
    assert identity_folder_digest(copy) == identity_folder_digest(root)
    (copy / "bob" / "00.png").write_bytes((copy / "bob" / "00.png").read_bytes() + b"\0")
    assert identity_folder_digest(copy) != identity_folder_digest(root)
    (copy / "bob" / "00.png").unlink()
    (copy / "bob" / "09.png").write_bytes((root / "bob" / "00.png").read_bytes())  # the same bytes, another name
    assert identity_folder_digest(copy) != identity_folder_digest(root)


def test_corrupt_image_is_skipped_with_a_counted_warning(image_folder):
    root = image_folder({"ann": 3, "bob": 2})
    (root / "ann" / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff this is not a jpeg")
    (root / "bob" / "readme.txt").write_text("ignored silently")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\) .*zz_broken.jpg"):
        ds = load_identity_folders(root, image_size=16)
    assert len(ds) == 5 and not any("broken" in p for p in ds.paths)


def test_too_small_image_is_rejected(image_folder):
    root = image_folder({"ann": 2, "bob": 2}, size=(5, 5))
    with pytest.raises(DataError, match="is 5×5 pixels; freqmix needs at least 8×8"):
        load_identity_folders(root, image_size=16)


def test_odd_sizes_and_uppercase_extensions_are_resized(image_folder):
    root = image_folder({"ann": 2, "bob": 2}, size=(21, 13))
    (root / "ann" / "00.png").rename(root / "ann" / "00.PNG")
    cv2.imwrite(str(root / "bob" / "flat.bmp"), np.full((37, 50), 77, np.uint8))
    ds = load_identity_folders(root, image_size=24)
    assert ds.images.shape == (5, 1, 24, 24)
    assert any(p.endswith("00.PNG") for p in ds.paths)
    assert (ds.images[ds.paths.index(str(root / "bob" / "flat.bmp"))] == 77).all()


def test_gray_and_color_mix_loads_as_rgb_with_a_warning(image_folder):
    root = image_folder({"ann": 2}, channels=1)
    image_folder({"bob": 2}, channels=3)
    with pytest.warns(UserWarning, match="converted 2 single-channel image"):
        ds = load_identity_folders(root, image_size=16)
    assert ds.image_channels == 3
    gray_part = ds.images[ds.labels == 0]
    assert torch.equal(gray_part[:, 0], gray_part[:, 1]) and torch.equal(gray_part[:, 0], gray_part[:, 2])
    assert load_identity_folders(root, image_size=16, color="gray").image_channels == 1


@pytest.mark.parametrize("image_size", [100, 0, -8])
def test_image_size_must_be_a_positive_multiple_of_8(image_folder, image_size):
    with pytest.raises(DataError, match="not a positive multiple of 8"):
        load_identity_folders(image_folder({"ann": 2, "bob": 2}), image_size=image_size)


def test_bad_color_and_bad_dataset_construction(image_folder):
    with pytest.raises(DataError, match="color='bgr' is not one of"):
        load_identity_folders(image_folder({"ann": 2, "bob": 2}), color="bgr")
    with pytest.raises(DataError, match="must be uint8"):
        FaceDataset(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), ["a"], ["", ""])
    with pytest.raises(DataError, match="one label and one path per image"):
        FaceDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), ["a"], ["", ""])


def test_subset_keeps_names_and_labels():
    ds = _indexed_dataset([3, 3])
    part = ds.subset([4, 1])
    assert part.labels.tolist() == [1, 0] and part.names == ds.names and part.images[:, 0, 0, 0].tolist() == [4, 1]
    masked = ds.subset(ds.labels == 1)
    assert masked.images[:, 0, 0, 0].tolist() == [3, 4, 5]


# ---------------------------------------------------------------------------------------------- scikit-learn


def _sklearn_cached(name: str) -> bool:
    from sklearn.datasets import get_data_home

    home = Path(get_data_home())
    return (home / "olivetti.pkz").exists() if name == "olivetti" else (home / "lfw_home").exists()


@pytest.mark.skipif(_sklearn_cached("olivetti"), reason="Olivetti is cached here, so fetching cannot fail")
def test_fetch_sklearn_offline_raises_data_error():
    with pytest.raises(DataError, match="could not download the scikit-learn 'olivetti' faces .*--data PATH"):
        fetch_sklearn("olivetti")


def test_fetch_sklearn_converts_and_reports_failures(monkeypatch):
    import sklearn.datasets

    rng = np.random.default_rng(0)
    olivetti = Bunch(images=rng.random((6, 64, 64), dtype=np.float32), target=np.repeat(np.arange(3), 2))
    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", lambda **_: olivetti)
    ds = load_dataset("olivetti", image_size=32)
    assert ds.images.shape == (6, 1, 32, 32) and ds.names == ["olivetti_00", "olivetti_01", "olivetti_02"]
    assert int(ds.images.max()) > 200  # 0..1 floats were scaled to 0..255

    def offline(**_):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(sklearn.datasets, "fetch_lfw_people", offline)
    with pytest.raises(DataError, match="could not download the scikit-learn 'lfw' faces \\(URLError"):
        fetch_sklearn("lfw")
    with pytest.raises(DataError, match="unknown scikit-learn dataset 'mnist'"):
        fetch_sklearn("mnist")


def test_private_split_is_the_attacks_split():
    faces = synthetic_faces(num_identities=8, images_per_identity=4, image_size=16, seed=0)
    split = private_split(faces, private_fraction=0.5, train_per_identity=3, seed=5)
    private, auxiliary = split_identities(faces, 0.5, seed=5)
    train, test = split_per_identity(private, 3, seed=5)
    assert torch.equal(split.train.images, train.images) and torch.equal(split.test.labels, test.labels)
    assert split.auxiliary.names == auxiliary.names and not set(split.auxiliary.names) & set(split.train.names)
    assert (len(split.train), len(split.test), len(split.auxiliary)) == (12, 4, 16)
    every = private_split(faces, None, seed=5)
    assert every.auxiliary is None and every.train.num_identities == 8
