"""MMRec-format loader: `<name>.inter` (or `.inter.gz`) plus `<modality>_feat.npy` files.

Every check of the data contract happens here, before any array reaches a model, and every failure is a
DatasetError naming the file, the line (1-based, header = line 1) or row/column, and what was expected.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import torch

from .dataset import Dataset
from .errors import DatasetError

REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
LABELS = {0: "train", 1: "valid", 2: "test"}
MAX_ID = 2**31 - 1  # ids index int32 kernels downstream
_INT_RE = re.compile(r"\s*\+?\d+\s*")


def find_inter(folder: Path, name: str | None = None) -> Path:
    """The interaction file of a dataset folder: `<name>.inter` or `<name>.inter.gz` (name = folder name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder; expected a dataset folder holding <name>.inter")
    name = name or folder.name
    for cand in (folder / f"{name}.inter", folder / f"{name}.inter.gz"):
        if cand.is_file():
            return cand
    others = sorted(p.name for p in folder.iterdir() if p.name.endswith((".inter", ".inter.gz")))
    hint = f" (found {', '.join(others)})" if others else ""
    raise DatasetError(f"{folder}: missing interaction file; expected {name}.inter or {name}.inter.gz{hint}")


def _read_text(path: Path) -> str:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: unreadable file ({exc}); expected a tab-separated .inter file") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not UTF-8 text; expected a tab-separated .inter file") from None


def _parse_ints(path: Path, column: str, values: list[str], line_no: np.ndarray) -> np.ndarray:
    """values: [n] strings of one column; line_no: [n] 1-based file lines. Returns int64 [n], all >= 0."""
    try:
        out = np.array(values, dtype=np.str_).astype(np.int64)
        ok = out.size == 0 or (out.min() >= 0 and out.max() <= MAX_ID)
        ok = ok and "_" not in "".join(values)  # numpy's parser takes Python's digit separators ("1_0")
    except (ValueError, OverflowError):
        ok = False
    if not ok:
        for k, v in enumerate(values):
            if not _INT_RE.fullmatch(v):
                raise DatasetError(f"{path}, line {line_no[k]}, column {column}: got {v!r}; "
                                   f"expected a non-negative integer")
            if int(v) > MAX_ID:
                raise DatasetError(f"{path}, line {line_no[k]}, column {column}: id {v.strip()} too large; "
                                   f"expected at most {MAX_ID}")
        raise DatasetError(f"{path}, column {column}: could not parse as integers; expected non-negative "
                           f"integers")
    return out


def _split_regular(text: str, n_cols: int) -> list[list[str]] | None:
    """Columns of the body when every data line has exactly n_cols tab-separated fields, else None."""
    body = text.split("\n", 1)[1] if "\n" in text else ""
    body = body.rstrip("\n")
    if not body:
        return None
    b = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)  # [bytes]
    ends = np.append(np.flatnonzero(b == 10), b.size)  # [n_lines] position of each line's end
    tabs_before = np.concatenate([[0], np.cumsum(b == 9)])  # [bytes+1]
    per_line = np.diff(np.concatenate([[0], tabs_before[ends]]))  # [n_lines] tabs in each line
    if np.any(per_line != n_cols - 1):
        return None
    tokens = body.replace("\n", "\t").split("\t")
    return [tokens[j::n_cols] for j in range(n_cols)]


def read_inter(path: Path) -> dict:
    """Parse and validate one .inter file. Returns users, items, labels (int64 [n]) and line numbers."""
    path = Path(path)
    text = _read_text(path)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise DatasetError(f"{path}, line 1: empty header; expected a tab-separated header row with columns "
                           f"{', '.join(REQUIRED_COLUMNS)}")
    header = [h.strip() for h in first.split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        sep = "" if "\t" in first else " (the header has no tab: the file must be tab separated)"
        raise DatasetError(f"{path}, line 1: missing column {', '.join(repr(c) for c in missing)}; header is "
                           f"{header}{sep}; expected tab-separated columns {', '.join(REQUIRED_COLUMNS)}")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise DatasetError(f"{path}, line 1: column(s) {dup} appear more than once; expected unique names")
    n_cols = len(header)
    columns = _split_regular(text, n_cols)
    if columns is not None:
        line_no = np.arange(2, len(columns[0]) + 2, dtype=np.int64)  # [n]
    else:  # blank lines or ragged rows: the slow path, which also locates the bad line
        body = [(k + 2, ln) for k, ln in enumerate(text.split("\n")[1:]) if ln.strip()]
        line_no = np.fromiter((k for k, _ in body), dtype=np.int64, count=len(body))  # [n]
        rows = [ln.split("\t") for _, ln in body]
        for k, r in enumerate(rows):
            if len(r) != n_cols:
                raise DatasetError(f"{path}, line {line_no[k]}: {len(r)} tab-separated fields; expected "
                                   f"{n_cols} like the header ({', '.join(header)})")
        columns = [[r[j] for r in rows] for j in range(n_cols)]
    cols = {c: _parse_ints(path, c, columns[header.index(c)], line_no) for c in REQUIRED_COLUMNS}
    users, items, labels = cols["userID"], cols["itemID"], cols["x_label"]
    bad = np.flatnonzero((labels < 0) | (labels > 2))
    if bad.size:
        k = bad[0]
        raise DatasetError(f"{path}, line {line_no[k]}, column x_label: got {labels[k]}; expected 0 (train), "
                           f"1 (valid) or 2 (test)")
    if users.size:
        n_items_seen = int(items.max()) + 1
        key = users * n_items_seen + items  # [n] unique per (user, item)
        order = np.argsort(key, kind="stable")
        same = np.flatnonzero(key[order[1:]] == key[order[:-1]])
        if same.size:
            first, second = sorted((order[same[0]], order[same[0] + 1]))
            raise DatasetError(f"{path}, line {line_no[second]}: duplicate (userID, itemID) pair "
                               f"({users[second]}, {items[second]}), first seen on line {line_no[first]}; "
                               f"expected each pair once")
    return {"users": users, "items": items, "labels": labels, "line_no": line_no}


def read_features(path: Path) -> np.ndarray:
    """Load one `<modality>_feat.npy`: float16/32/64 [rows, d], all finite. Returns float32 [rows, d]."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: unreadable feature file ({exc}); expected a .npy float array "
                           f"[n_items, d]") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        shape = getattr(arr, "shape", None)
        raise DatasetError(f"{path}: array of shape {shape}; expected 2 dimensions [n_items, d]")
    if arr.dtype not in (np.float16, np.float32, np.float64):
        raise DatasetError(f"{path}: dtype {arr.dtype}; expected float16, float32 or float64")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)  # float16 -> float32 is exact; float64 may overflow, caught below
    finite = np.isfinite(out)
    if not finite.all():
        r, c = (int(v) for v in np.argwhere(~finite)[0])
        n_bad = int(finite.size - np.count_nonzero(finite))
        what = arr[r, c]
        extra = " (overflows float32)" if np.isfinite(what) else ""
        raise DatasetError(f"{path}, row {r}, column {c}: value {what}{extra}; expected finite values "
                           f"({n_bad} non-finite entries in total)")
    return np.ascontiguousarray(out)


def find_features(folder: Path, modalities=None) -> dict[str, Path]:
    """modality -> `<folder>/<modality>_feat.npy`. modalities None: every `*_feat.npy` present (sorted)."""
    folder = Path(folder) if folder is not None else None
    if modalities is None:
        if folder is None or not folder.is_dir():
            return {}
        return {p.name[: -len("_feat.npy")]: p for p in sorted(folder.glob("*_feat.npy"))}
    found = {}
    for m in modalities:
        p = folder / f"{m}_feat.npy" if folder is not None else Path(f"{m}_feat.npy")
        if not p.is_file():
            raise DatasetError(f"{p}: missing feature file for modality {m!r}; expected {m}_feat.npy "
                               f"in {folder}")
        found[m] = p
    return found


def load_mmrec(inter_path: Path, feature_files: dict[str, Path] | None = None, name: str | None = None) -> Dataset:
    """Build a Dataset from one .inter file and modality -> .npy paths, applying every check of the spec."""
    inter_path = Path(inter_path)
    name = name or inter_path.name.split(".inter")[0]
    data = read_inter(inter_path)
    users, items, labels, line_no = data["users"], data["items"], data["labels"], data["line_no"]
    train = labels == 0
    if not train.any():
        raise DatasetError(f"{inter_path}: empty train split ({users.size} rows, none with x_label 0); "
                           f"expected at least one train row")
    n_users = int(users.max()) + 1
    n_items = int(items.max()) + 1
    features, rows_of = {}, {}
    for m, p in (feature_files or {}).items():
        feat = read_features(p)
        if feat.shape[0] < n_items:
            k = int(np.argmax(items))
            raise DatasetError(f"{p}: {feat.shape[0]} rows; expected {n_items} (one per itemID: itemID "
                               f"{n_items - 1} appears on line {line_no[k]} of {inter_path.name})")
        features[m], rows_of[m] = feat, feat.shape[0]
    if len(set(rows_of.values())) > 1:
        listing = ", ".join(f"{feature_files[m].name}: {r}" for m, r in rows_of.items())
        raise DatasetError(f"{Path(next(iter(feature_files.values()))).parent}: feature files disagree on the "
                           f"row count ({listing}); expected one row per item in every file")
    if rows_of:
        n_items = next(iter(rows_of.values()))
    # Cold start: valid/test rows of users without any train row are dropped (MMRec's filter).
    has_train = np.zeros(n_users, dtype=bool)
    has_train[users[train]] = True
    keep = train | has_train[users]
    splits = {s: (users[keep & (labels == k)], items[keep & (labels == k)]) for k, s in LABELS.items()}
    return Dataset(name, n_users, n_items, splits["train"], splits["valid"], splits["test"],
                   features={m: torch.from_numpy(f) for m, f in features.items()},
                   n_dropped_cold=int((~keep).sum()))


def load_folder(folder, name: str | None = None, features_dir=None, modalities=None) -> Dataset:
    """A dataset folder in MMRec format; features from features_dir (default: the folder itself)."""
    folder = Path(folder)
    inter = find_inter(folder, name)
    feats = find_features(Path(features_dir) if features_dir is not None else folder, modalities)
    return load_mmrec(inter, feats, name=name or folder.name)
