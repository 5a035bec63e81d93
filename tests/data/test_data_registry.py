"""Shipped datasets (tiktok, baby, sports), features_dir handling, unknown names, synthetic generator."""
import numpy as np
import pytest
import torch

from mcdrec.engine.data import DatasetError, list_datasets, load_dataset
from mcdrec.engine.data.synthetic import parse_spec


def test_tiktok_stats_and_cold_start():
    d = load_dataset("tiktok")
    s = d.stats()
    # The file has 59,541 / 3,051 / 6,130 rows; 10 users have no train row and lose 5 valid + 5 test rows.
    assert (s["n_users"], s["n_items"]) == (9308, 6710)
    assert (s["n_train"], s["n_valid"], s["n_test"]) == (59541, 3046, 6125)
    assert d.n_dropped_cold == 10
    assert s["features"] == {"image": 128, "audio": 128}
    for f in d.features.values():
        assert f.dtype == torch.float32 and f.shape == (6710, 128) and torch.isfinite(f).all()
    train_users = np.unique(d.pairs("train")[0])
    assert train_users.size == 9308 - 10
    assert np.isin(d.eval_users("test"), train_users).all()
    assert d.train_items.size == 6245
    assert load_dataset("tiktok", modalities=["audio"]).stats()["features"] == {"audio": 128}


def test_baby_stats():
    d = load_dataset("baby")
    s = d.stats()
    assert (s["n_users"], s["n_items"]) == (19445, 7050)
    assert (s["n_train"], s["n_valid"], s["n_test"]) == (118551, 20559, 21682)
    assert s["features"] == {} and d.n_dropped_cold == 0
    g = d.graph
    assert g.n_edges == 118551 and g.norm_adj().shape == (26495, 26495)


def test_list_datasets():
    stats = {s["name"]: s for s in list_datasets()}
    assert set(stats) == {"tiktok", "baby", "sports"}
    sp = stats["sports"]
    assert (sp["n_users"], sp["n_items"]) == (35598, 18357)
    assert (sp["n_train"], sp["n_valid"], sp["n_test"]) == (218409, 37899, 40029)


def test_baby_user_features(tmp_path, rng, monkeypatch):
    monkeypatch.delenv("MCDREC_FEATURES_DIR", raising=False)
    fdir = tmp_path / "feats"
    fdir.mkdir()
    np.save(fdir / "image_feat.npy", rng.standard_normal((7050, 6)).astype(np.float16))
    np.save(fdir / "text_feat.npy", rng.standard_normal((7050, 4)).astype(np.float32))
    assert load_dataset("baby", features_dir=fdir).stats()["features"] == {"image": 6, "text": 4}
    monkeypatch.setenv("MCDREC_FEATURES_DIR", str(tmp_path))
    (tmp_path / "baby").mkdir()
    np.save(tmp_path / "baby" / "text_feat.npy", rng.standard_normal((7050, 5)))
    assert load_dataset("baby").stats()["features"] == {"text": 5}
    with pytest.raises(DatasetError, match=r"image_feat\.npy.*modality 'image'"):
        load_dataset("baby", modalities=["image"])
    np.save(tmp_path / "baby" / "text_feat.npy", rng.standard_normal((7000, 5)))
    with pytest.raises(DatasetError, match=r"text_feat\.npy: 7000 rows; expected 7050"):
        load_dataset("baby")


def test_modality_requested_without_features(monkeypatch):
    monkeypatch.delenv("MCDREC_FEATURES_DIR", raising=False)
    with pytest.raises(DatasetError, match=r"sports: modalities \['image'\].*MCDREC_FEATURES_DIR/sports"):
        load_dataset("sports", modalities=["image"])
    with pytest.raises(DatasetError, match=r"text_feat\.npy.*modality 'text'"):
        load_dataset("tiktok", modalities=["image", "text"])


@pytest.mark.parametrize("name", ["movielens", "", "synthetic", "synthetic:10x10", "synthetic:5x5x10:q=3",
                                  "synthetic:5x5x10:d=-4", "synthetic:5x5x3", "synthetic:5x5x26"])
def test_unknown_or_bad_names(name):
    with pytest.raises(DatasetError) as info:
        load_dataset(name)
    msg = str(info.value)
    assert "synthetic:<users>x<items>x<interactions>" in msg or "interactions; expected between" in msg
    if name == "movielens":
        assert "tiktok, baby, sports" in msg and "folder path" in msg


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset folder"):
        load_dataset(str(tmp_path / "nope" / "x"))


def _all_pairs(d):
    u = np.concatenate([d.pairs(s)[0] for s in ("train", "valid", "test")])
    i = np.concatenate([d.pairs(s)[1] for s in ("train", "valid", "test")])
    return u, i


@pytest.mark.parametrize("spec", ["synthetic:200x50x3000", "synthetic:30x4x100:k=2", "synthetic:50x40x50:d=7",
                                  "synthetic:300x1000x6000:d=16,8,4,3:k=5"])
def test_synthetic_invariants(spec):
    d = load_dataset(spec, seed=3)
    p = parse_spec(spec)
    u, i = _all_pairs(d)
    assert (d.n_users, d.n_items, u.size) == (p["n_users"], p["n_items"], p["n_inter"])
    assert np.unique(u * d.n_items + i).size == u.size  # no duplicate pair
    assert d.eval_users("train").size == d.n_users  # every user has a train row
    assert [f.shape[1] for f in d.features.values()] == p["widths"]
    assert all(f.shape[0] == d.n_items and f.dtype == torch.float32 for f in d.features.values())
    s = d.stats()
    assert s["n_train"] >= 0.7 * u.size


def test_synthetic_default_widths_and_id_only():
    assert load_dataset("synthetic:20x10x60").stats()["features"] == {"image": 64, "text": 32}
    assert load_dataset("synthetic:20x10x60:d=none").features == {}
    names = list(load_dataset("synthetic:20x10x60:d=3,3,3,3").features)
    assert names == ["image", "text", "audio", "mod3"]


def test_synthetic_deterministic():
    a = load_dataset("synthetic:400x120x5000", seed=7)
    b = load_dataset("synthetic:400x120x5000", seed=7)
    c = load_dataset("synthetic:400x120x5000", seed=8)
    for split in ("train", "valid", "test"):
        for x, y in zip(a.pairs(split), b.pairs(split)):
            np.testing.assert_array_equal(x, y)
    assert torch.equal(a.features["image"], b.features["image"])
    assert not np.array_equal(a.pairs("train")[1], c.pairs("train")[1])


def test_synthetic_planted_clusters_are_learnable():
    """Items a user interacts with share features far more than random item pairs do."""
    d = load_dataset("synthetic:300x400x6000:k=4", seed=1)
    f = torch.nn.functional.normalize(d.features["image"], dim=1).numpy()  # [I, 64]
    indptr, indices = d.train_csr
    same, rand = [], []
    gen = np.random.default_rng(0)
    for u in range(d.n_users):
        its = indices[indptr[u]:indptr[u + 1]]
        if its.size >= 2:
            same.append(f[its[0]] @ f[its[1]])
            a, b = gen.integers(0, d.n_items, 2)
            rand.append(f[a] @ f[b])
    assert np.mean(same) > np.mean(rand) + 0.2
