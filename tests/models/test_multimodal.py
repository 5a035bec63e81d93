"""BM3, FREEDOM, MCDRec(BM3) with its ablations and MCDRec(FREEDOM): modules, losses, DGD, reload."""
import pytest
import torch

import mcdrec
from mcdrec.engine.config import resolve_config
from mcdrec.engine.graph.item_knn import item_knn_adjacency, modality_weights
from mcdrec.engine.models import model_class
from mcdrec.engine.models._modality import FusionMLP, ModalityEncoder, bm3_loss, cosine_loss
from mcdrec.engine.models.losses import emb_loss

NAMES = ["bm3", "freedom", "mcdrec-bm3", "bm3-mk", "bm3-mrd", "bm3-dgd", "mcdrec-freedom"]
DIFFUSION = {"mcdrec-bm3", "bm3-mrd", "bm3-dgd", "mcdrec-freedom"}
FAST = {"steps": 3}  # a short chain keeps the tests quick; the network is the full one


@pytest.fixture(scope="module")
def ds():
    return mcdrec.load_dataset("synthetic:60x40x500:d=24,12")


def build(name, ds, seed=0, **overrides):
    if name in DIFFUSION:
        overrides = {**FAST, **overrides}
    cfg = resolve_config(name, ds.name, overrides=overrides).single()
    torch.manual_seed(seed)
    return model_class(name)(ds, cfg)


def batch(ds, b=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    u, i = (torch.as_tensor(a) for a in ds.pairs("train"))
    k = torch.randint(0, u.numel(), (b,), generator=g)
    return u[k], i[k], torch.randint(0, ds.n_items, (b,), generator=g)


def test_modality_encoder_and_fusion_shapes_and_grads(ds):
    enc = ModalityEncoder(ds.features, 16)
    feats = enc.project()
    assert enc.names == list(ds.features) and [f.shape for f in feats] == [(ds.n_items, 16)] * len(ds.features)
    mlp = FusionMLP((1 + len(feats)) * 16, 16)
    out = mlp(torch.randn(ds.n_items, 16), feats)
    assert out.shape == (ds.n_items, 16)
    out.square().sum().backward()
    for p in [*enc.parameters(), *mlp.parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all()
    # the feature tables are trainable copies: the dataset's tensors are untouched
    assert enc.tables[enc.names[0]].data_ptr() != ds.features[enc.names[0]].data_ptr()
    for flag in (True, "l2"):
        unit = ModalityEncoder(ds.features, 16, normalize=flag)
        for m in unit.names:
            torch.testing.assert_close(unit.tables[m].norm(dim=1), torch.ones(ds.n_items))
            torch.testing.assert_close(enc.tables[m], ds.features[m])
    centred = ModalityEncoder(ds.features, 16, normalize="center_l2")
    for m in centred.names:
        f = ds.features[m].double()
        want = f - f.mean(0)
        want = want / want.norm(dim=1, keepdim=True)
        torch.testing.assert_close(centred.tables[m].double(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"feature_norm: expected one of none, l2, center_l2, got 'z'"):
        ModalityEncoder(ds.features, 16, normalize="z")


def test_bm3_loss_matches_hand_computation_without_dropout():
    torch.manual_seed(1)
    pred = torch.nn.Linear(8, 8)
    u_all, i_all, f = torch.randn(5, 8), torch.randn(6, 8), torch.randn(6, 8)
    users, items = torch.tensor([0, 4, 2]), torch.tensor([1, 5, 5])
    loss, parts = bm3_loss(pred, u_all, i_all, [f], users, items, dropout=0.0, reg_weight=0.1, cl_weight=2.0)
    cos = lambda a, b: 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()  # noqa: E731
    boot = cos(pred(u_all[users]), i_all[items]) + cos(pred(i_all[items]), u_all[users])
    modal = cos(pred(f[items]), i_all[items]) + cos(pred(f[items]), f[items])
    reg = (u_all.norm() + i_all.norm()) / 6
    torch.testing.assert_close(loss, boot + 0.1 * reg + 2.0 * modal)
    assert parts["reg"] == pytest.approx(float(emb_loss(u_all, i_all)))
    assert float(cosine_loss(f, f)) == pytest.approx(0.0, abs=1e-6)


def test_modality_weights():
    assert modality_weights(["audio"], 0.1) == {"audio": 1.0}
    assert modality_weights(["image", "audio"], 0.1) == pytest.approx({"image": 0.1, "audio": 0.9})
    assert modality_weights(["text", "image", "audio"], 0.2) == pytest.approx({"image": 0.2, "text": 0.4, "audio": 0.4})
    assert modality_weights(["a", "b"], 0.1) == pytest.approx({"a": 0.5, "b": 0.5})


def test_item_knn_adjacency_mixes_normalised_knn_graphs(ds):
    k = 5
    adj = item_knn_adjacency(ds.features, k, image_weight=0.1).to_dense()
    want = torch.zeros(ds.n_items, ds.n_items, dtype=torch.float64)
    for m, f in ds.features.items():
        x = torch.nn.functional.normalize(f.double(), dim=-1)
        idx = torch.topk(x @ x.T, k, dim=1).indices
        a = torch.zeros(ds.n_items, ds.n_items, dtype=torch.float64).scatter_(1, idx, 1.0)
        d = (a.sum(1) + 1e-7).rsqrt()
        want += (0.1 if m == "image" else 0.9) * (d[:, None] * a * d[None, :])
    torch.testing.assert_close(adj.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_finite_gradient_and_scores_are_finite(ds, name):
    model = build(name, ds)
    model.train()
    model.pre_epoch(0, torch.Generator().manual_seed(0))
    loss, parts = model.loss(*batch(ds))
    assert loss.ndim == 0 and torch.isfinite(loss)
    # loss parts stay on the device (no per-batch host sync): detached 0-d tensors
    assert all(torch.is_tensor(v) and v.ndim == 0 and not v.requires_grad and torch.isfinite(v)
               for v in parts.values())
    assert ("diff" in parts) == (name in DIFFUSION)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
    model.post_epoch(0, torch.Generator().manual_seed(0))
    model.eval()
    model.prepare_eval()
    s = model.scores(torch.tensor([0, 3, 7]))
    assert s.shape == (3, ds.n_items) and torch.isfinite(s).all()


def test_variant_modules():
    ds = mcdrec.load_dataset("synthetic:30x20x150:d=8,8,8")  # three modalities: fusion input (1+3)d
    has = lambda m, a: hasattr(m.parts, a)  # noqa: E731
    for name, mrd, fusion, dgd in [("mcdrec-bm3", 1, 1, 1), ("bm3-mk", 0, 1, 0), ("bm3-mrd", 1, 1, 0),
                                   ("bm3-dgd", 1, 0, 1)]:
        m = build(name, ds)
        assert (has(m, "mrd"), has(m, "fusion"), m.parts.use_dgd) == (bool(mrd), bool(fusion), bool(dgd)), name
        if fusion:
            assert m.parts.fusion.net[0].in_features == 4 * m.d
    with pytest.raises(ValueError, match="variant"):
        build("mcdrec-bm3", ds, variant="nope")


def test_models_need_features():
    ds = mcdrec.load_dataset("synthetic:30x20x150:d=0")
    for name in ("bm3", "freedom", "mcdrec-bm3"):
        with pytest.raises(ValueError, match="needs item features"):
            build(name, ds)


@pytest.mark.parametrize("name", ["mcdrec-bm3", "bm3-dgd", "mcdrec-freedom"])
def test_dgd_training_adjacency_is_symmetric_and_differs_from_eval(ds, name):
    model = build(name, ds)
    full = model.full_adj()
    model.pre_epoch(0, torch.Generator().manual_seed(0))
    a = model.train_adj()
    assert a is not full and a.shape == full.shape
    dense, dense_full = a.to_dense(), full.to_dense()
    torch.testing.assert_close(dense, dense.T)
    n_keep = int(ds.graph.n_edges * model.parts.keep_ratio)
    assert a.values().numel() == 2 * n_keep
    assert not torch.allclose(dense, dense_full)
    # kept edges are train edges; eval still uses the full graph
    assert ((dense != 0) & (dense_full == 0)).sum() == 0
    model.eval()
    model.prepare_eval()
    assert model.full_adj() is full


def test_mcdrec_eval_uses_the_sampled_chain_output(ds):
    full, mk = build("mcdrec-bm3", ds), build("bm3-mk", ds)
    for m in (full, mk):
        m.eval()
    before_full, before_mk = full.eval_item_input().clone(), mk.eval_item_input().clone()
    full.post_epoch(0, torch.Generator().manual_seed(0))
    mk.post_epoch(0, torch.Generator().manual_seed(0))
    assert bool(full.parts.has_sample) and not bool(mk.parts.has_sample)
    assert not torch.allclose(full.eval_item_input(), before_full)
    torch.testing.assert_close(mk.eval_item_input(), before_mk)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_reloads_into_an_equal_model(ds, name):
    a = build(name, ds, seed=0)
    opt = torch.optim.Adam(a.parameters(), lr=1e-2)
    a.train()
    a.pre_epoch(0, torch.Generator().manual_seed(0))
    loss, _ = a.loss(*batch(ds))
    loss.backward()
    opt.step()
    a.post_epoch(0, torch.Generator().manual_seed(0))
    b = build(name, ds, seed=1)
    b.load_state_dict(a.state_dict())
    users = torch.arange(10)
    for m in (a, b):
        m.eval()
        m.prepare_eval()
    torch.testing.assert_close(a.scores(users), b.scores(users), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["mcdrec-bm3", "mcdrec-freedom"])
def test_dropout_adj_zero_trains_on_the_full_graph(ds, name):
    model = build(name, ds, dropout_adj=0.0)
    model.train()
    model.pre_epoch(0, torch.Generator().manual_seed(0))
    assert model.train_adj() is model.full_adj()


def test_tau_outside_unit_interval_is_refused(ds):
    with pytest.raises(ValueError, match="tau must be in"):
        build("mcdrec-bm3", ds, tau=1.5)


@pytest.mark.parametrize("name", ["mcdrec-bm3", "bm3-mk", "mcdrec-freedom"])
def test_fusion_center_removes_the_item_mean_of_the_fused_input(ds, name):
    plain, centred = build(name, ds, seed=0), build(name, ds, seed=0, fusion_center=True)
    for m in (plain, centred):
        m.eval()
    a, b = plain.eval_item_input(), centred.eval_item_input()
    assert a.mean(0).abs().max() > 1e-3  # the plain MLP output has a shared component
    torch.testing.assert_close(b.mean(0), torch.zeros_like(b[0]), rtol=0, atol=1e-6)
    torch.testing.assert_close(b, a - a.mean(0), rtol=1e-6, atol=1e-6)
    centred.train()
    feats = centred.modalities.project()
    torch.manual_seed(3)
    item_in, _ = centred.parts.train_input(centred.item_emb, feats)
    torch.testing.assert_close(item_in.mean(0), torch.zeros_like(item_in[0]), rtol=0, atol=1e-6)


def test_mean_pairwise_cosine_by_hand():
    from mcdrec.engine.models.base import mean_pairwise_cosine

    x = torch.randn(7, 5, dtype=torch.float64)
    z = x / x.norm(dim=1, keepdim=True)
    assert mean_pairwise_cosine(x) == pytest.approx(float((z @ z.T).mean()), rel=1e-12)
    assert mean_pairwise_cosine(torch.ones(4, 3) * torch.tensor([[1.0], [2.0], [3.0], [0.5]])) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["bm3", "freedom", "bm3-mk", "mcdrec-freedom"])
def test_diagnostics_describe_the_scored_items(ds, name):
    from mcdrec.engine.models.base import mean_pairwise_cosine

    model = build(name, ds)
    model.eval()
    model.prepare_eval()
    diag = model.diagnostics()
    assert set(diag) == {"item_cosine", "item_input_norm"}
    with torch.no_grad():
        assert diag["item_input_norm"] == pytest.approx(float(model.eval_item_input().norm(dim=1).mean()))
    assert diag["item_cosine"] == pytest.approx(mean_pairwise_cosine(model._eval_cache[1]))
