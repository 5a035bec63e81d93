"""MMRec loader: round trip, cold-start filter, feature handling, and every bad input of the data contract."""
import gzip
import re

import numpy as np
import pytest
import torch

from mcdrec.engine.data import DatasetError, load_dataset
from mcdrec.engine.data.loader import load_folder

GOOD = [  # (user, item, x_label)
    (0, 0, 0), (0, 2, 0), (0, 1, 1), (0, 3, 2),
    (1, 1, 0), (1, 3, 0), (1, 0, 2),
    (2, 2, 0), (2, 4, 1),
]


def write_inter(folder, rows, header="userID\titemID\tx_label", name=None, gz=False):
    """rows: list of tuples or raw strings (one per line). Returns the file path."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or folder.name
    lines = [header] + [r if isinstance(r, str) else "\t".join(map(str, r)) for r in rows]
    text = "\n".join(lines) + "\n"
    path = folder / f"{name}.inter{'.gz' if gz else ''}"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def expect_error(folder, *patterns, **kw):
    with pytest.raises(DatasetError) as info:
        load_folder(folder, **kw)
    msg = str(info.value)
    for p in patterns:
        assert re.search(p, msg), f"{p!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------- good input


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, gz):
    folder = tmp_path / "toy"
    write_inter(folder, GOOD, gz=gz)
    d = load_folder(folder)
    assert (d.name, d.n_users, d.n_items) == ("toy", 3, 5)
    for split, k in (("train", 0), ("valid", 1), ("test", 2)):
        u, i = d.pairs(split)
        assert u.dtype == np.int64 and i.dtype == np.int64
        want = [(a, b) for a, b, x in GOOD if x == k]
        assert list(zip(u.tolist(), i.tolist())) == want
    indptr, indices = d.train_csr
    assert indptr.tolist() == [0, 2, 4, 5] and indices.tolist() == [0, 2, 1, 3, 2]
    assert d.eval_users("valid").tolist() == [0, 2]
    assert d.eval_users("test").tolist() == [0, 1]
    assert d.train_items.tolist() == [0, 1, 2, 3]
    assert d.features == {}
    s = d.stats()
    assert (s["n_train"], s["n_valid"], s["n_test"]) == (5, 2, 2)
    assert s["density"] == pytest.approx(9 / 15)


def test_extra_columns_crlf_and_blank_lines(tmp_path):
    folder = tmp_path / "ex"
    rows = [f"{u}\t{i}\t4.0\t{x}\t1600000000" for u, i, x in GOOD]
    rows.insert(3, "")
    path = write_inter(folder, rows, header="userID\titemID\trating\tx_label\ttimestamp")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    d = load_folder(folder)
    assert d.pairs("train")[1].tolist() == [0, 2, 1, 3, 2]
    assert d.pairs("test")[0].tolist() == [0, 1]


def test_bad_split_name(tmp_path):
    write_inter(tmp_path / "toy", GOOD)
    d = load_folder(tmp_path / "toy")
    with pytest.raises(ValueError, match="'validation'"):
        d.pairs("validation")
    with pytest.raises(ValueError, match="'dev'"):
        d.split_csr("dev")


def test_cold_start_users_dropped(tmp_path):
    rows = GOOD + [(3, 0, 1), (3, 1, 2), (4, 2, 2)]  # users 3 and 4 have no train row
    write_inter(tmp_path / "cs", rows)
    d = load_folder(tmp_path / "cs")
    assert d.n_users == 5  # still max(userID)+1
    assert d.n_dropped_cold == 3
    assert 3 not in d.pairs("valid")[0] and 3 not in d.pairs("test")[0] and 4 not in d.pairs("test")[0]
    assert d.stats()["n_valid"] == 2 and d.stats()["n_test"] == 2
    assert d.eval_users("test").tolist() == [0, 1]


def test_features_upcast_and_n_items_from_rows(tmp_path, rng):
    folder = tmp_path / "ft"
    write_inter(folder, GOOD)
    img = rng.standard_normal((8, 6)).astype(np.float16) * np.float16(300)  # sums would overflow in fp16
    np.save(folder / "image_feat.npy", img)
    np.save(folder / "text_feat.npy", rng.standard_normal((8, 3)))  # float64
    d = load_folder(folder)
    assert d.n_items == 8  # more rows than max(itemID)+1 = 5: rows decide
    assert set(d.features) == {"image", "text"}
    assert d.features["image"].dtype == torch.float32 and d.features["text"].dtype == torch.float32
    np.testing.assert_array_equal(d.features["image"].numpy(), img.astype(np.float32))
    assert d.graph.n_items == 8 and d.train_csr[0].shape == (4,)
    d2 = load_folder(folder, modalities=["text"])
    assert list(d2.features) == ["text"]


# ---------------------------------------------------------------- bad input


def test_missing_inter(tmp_path):
    (tmp_path / "empty").mkdir()
    expect_error(tmp_path / "empty", r"empty", r"missing interaction file", r"empty\.inter or empty\.inter\.gz")
    write_inter(tmp_path / "other", GOOD, name="wrong")
    expect_error(tmp_path / "other", r"other\.inter", r"found wrong\.inter")


def test_not_a_folder(tmp_path):
    expect_error(tmp_path / "absent", r"absent", r"not a folder")


def test_unreadable_file(tmp_path):
    folder = tmp_path / "gzbad"
    folder.mkdir()
    (folder / "gzbad.inter.gz").write_bytes(b"this is not gzip data")
    expect_error(folder, r"gzbad\.inter\.gz", r"unreadable")
    folder = tmp_path / "latin"
    folder.mkdir()
    (folder / "latin.inter").write_bytes(b"userID\titemID\tx_label\n0\t0\t0\n\xff\xfe\t1\t0\n")
    expect_error(folder, r"latin\.inter, line 3", r"UTF-8")


def test_missing_column(tmp_path):
    write_inter(tmp_path / "mc", [(0, 0), (1, 1)], header="userID\titemID")
    expect_error(tmp_path / "mc", r"mc\.inter, line 1", r"missing column 'x_label'", r"userID, itemID, x_label")


def test_not_tab_separated(tmp_path):
    write_inter(tmp_path / "csv", ["0,0,0"], header="userID,itemID,x_label")
    expect_error(tmp_path / "csv", r"csv\.inter, line 1", r"missing column", r"tab separated")


def test_ragged_row(tmp_path):
    write_inter(tmp_path / "rg", GOOD[:3] + ["1\t1"] + GOOD[3:])
    expect_error(tmp_path / "rg", r"rg\.inter, line 5", r"2 tab-separated fields; expected 3")


@pytest.mark.parametrize("value,col", [("1.5", "itemID"), ("abc", "userID"), ("", "itemID"), ("-2", "userID"),
                                       ("-1", "itemID"), ("1_0", "userID")])
def test_non_integer_or_negative_id(tmp_path, value, col):
    rows = [list(r) for r in GOOD]
    rows[4][0 if col == "userID" else 1] = value
    write_inter(tmp_path / "nid", ["\t".join(map(str, r)) for r in rows])
    expect_error(tmp_path / "nid", r"nid\.inter, line 6, column " + col, re.escape(repr(value)),
                 r"expected a non-negative integer")


def test_id_too_large(tmp_path):
    write_inter(tmp_path / "big", GOOD + [(2**40, 0, 0)])
    expect_error(tmp_path / "big", r"big\.inter, line 11, column userID", r"too large")


@pytest.mark.parametrize("label", ["3", "-1", "x"])
def test_unknown_label(tmp_path, label):
    write_inter(tmp_path / "lab", GOOD[:6] + [f"1\t0\t{label}"] + GOOD[7:])
    expect_error(tmp_path / "lab", r"lab\.inter, line 8, column x_label", r"0 \(train\), 1 \(valid\) or 2 \(test\)|"
                 r"non-negative integer")


def test_duplicate_pair(tmp_path):
    write_inter(tmp_path / "dup", GOOD + [(1, 3, 2)])
    expect_error(tmp_path / "dup", r"dup\.inter, line 11", r"duplicate \(userID, itemID\) pair \(1, 3\)",
                 r"first seen on line 7")


def test_empty_train(tmp_path):
    write_inter(tmp_path / "nt", [(0, 0, 1), (1, 1, 2)])
    expect_error(tmp_path / "nt", r"nt\.inter", r"empty train split", r"x_label 0")
    write_inter(tmp_path / "hdr", [])
    expect_error(tmp_path / "hdr", r"hdr\.inter", r"empty train split")
    (tmp_path / "void").mkdir()
    (tmp_path / "void" / "void.inter").write_text("")
    expect_error(tmp_path / "void", r"void\.inter, line 1", r"empty header")


def test_feature_rows_too_few(tmp_path, rng):
    write_inter(tmp_path / "fr", GOOD)
    np.save(tmp_path / "fr" / "image_feat.npy", rng.standard_normal((4, 3)).astype(np.float32))
    expect_error(tmp_path / "fr", r"image_feat\.npy", r"4 rows; expected 5", r"itemID 4 appears on line 10")


def test_feature_rows_disagree(tmp_path, rng):
    write_inter(tmp_path / "fd", GOOD)
    np.save(tmp_path / "fd" / "image_feat.npy", rng.standard_normal((5, 3)))
    np.save(tmp_path / "fd" / "text_feat.npy", rng.standard_normal((7, 3)))
    expect_error(tmp_path / "fd", r"disagree on the row count", r"image_feat\.npy: 5", r"text_feat\.npy: 7")


@pytest.mark.parametrize("dtype,bad", [(dt, v) for dt in (np.float16, np.float32, np.float64)
                                       for v in (np.nan, np.inf, -np.inf)] + [(np.float64, 1e300)])
def test_non_finite_features(tmp_path, rng, dtype, bad):
    """1e300 is finite in float64 but not once loaded as float32."""
    write_inter(tmp_path / "nf", GOOD)
    f = rng.standard_normal((5, 4)).astype(dtype)
    f[3, 2] = bad
    np.save(tmp_path / "nf" / "audio_feat.npy", f)
    expect_error(tmp_path / "nf", r"audio_feat\.npy, row 3, column 2", r"expected finite values")


def test_feature_bad_dtype_shape_and_file(tmp_path):
    write_inter(tmp_path / "fb", GOOD)
    np.save(tmp_path / "fb" / "image_feat.npy", np.ones((5, 2), dtype=np.int64))
    expect_error(tmp_path / "fb", r"image_feat\.npy", r"dtype int64; expected float16, float32 or float64")
    np.save(tmp_path / "fb" / "image_feat.npy", np.ones(5, dtype=np.float32))
    expect_error(tmp_path / "fb", r"image_feat\.npy", r"expected 2 dimensions")
    (tmp_path / "fb" / "image_feat.npy").write_bytes(b"garbage")
    expect_error(tmp_path / "fb", r"image_feat\.npy", r"unreadable feature file")


def test_modality_named_but_missing(tmp_path, rng):
    write_inter(tmp_path / "mm", GOOD)
    np.save(tmp_path / "mm" / "image_feat.npy", rng.standard_normal((5, 3)))
    expect_error(tmp_path / "mm", r"text_feat\.npy", r"modality 'text'", modalities=["image", "text"])


def test_load_dataset_path_and_file(tmp_path):
    path = write_inter(tmp_path / "p", GOOD, gz=True)
    assert load_dataset(tmp_path / "p").n_users == 3
    assert load_dataset(str(path)).stats()["n_train"] == 5
