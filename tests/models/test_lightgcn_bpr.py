import numpy as np
import pytest
import torch

import mcdrec
from mcdrec.engine.models.losses import bpr_loss, emb_loss


@pytest.fixture(scope="module")
def ds():
    return mcdrec.load_dataset("synthetic:60x40x500")


def _dense_norm_adj(ds):
    u, i = ds.pairs("train")
    n = ds.n_users + ds.n_items
    a = np.zeros((n, n))
    a[u, ds.n_users + i] = 1
    a[ds.n_users + i, u] = 1
    d = a.sum(1) + 1e-7
    return a / np.sqrt(d[:, None] * d[None, :])


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_lightgcn_propagation_is_layer_mean_of_dense_graph(ds, n_layers):
    model = mcdrec.build_model("lightgcn", ds, n_layers=n_layers).double()
    a = torch.from_numpy(_dense_norm_adj(ds))
    x = torch.cat([model.user_embedding, model.item_embedding]).detach()
    layers, h = [x], x
    for _ in range(n_layers):
        h = a @ h
        layers.append(h)
    want = torch.stack(layers).mean(0)
    model.float()
    users, items = model.propagate()
    got = torch.cat([users, items]).detach().double()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lightgcn", "bpr"])
def test_loss_gradients_reach_embeddings(ds, name):
    model = mcdrec.build_model(name, ds)
    users, pos, neg = (torch.randint(0, n, (32,)) for n in (ds.n_users, ds.n_items, ds.n_items))
    loss, parts = model.loss(users, pos, neg)
    loss.backward()
    assert torch.isfinite(loss) and set(parts) == {"bpr", "reg"}
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    model.eval()
    model.prepare_eval()
    s = model.scores(torch.arange(5))
    assert s.shape == (5, ds.n_items) and torch.isfinite(s).all()


def test_losses_match_mmrec_definitions():
    pos, neg = torch.randn(9, dtype=torch.float64), torch.randn(9, dtype=torch.float64)
    want = -np.mean(np.log(1e-10 + 1 / (1 + np.exp(-(pos - neg).numpy()))))
    assert float(bpr_loss(pos, neg)) == pytest.approx(want, rel=1e-12)
    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    # MMRec's EmbLoss divides the summed Frobenius norms by the LAST table's row count.
    assert float(emb_loss(a, b)) == pytest.approx((a.norm() + b.norm()).item() / 7, rel=1e-12)


def test_checkpoint_reload_gives_equal_scores(ds, tmp_path):
    model = mcdrec.build_model("lightgcn", ds)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    other = mcdrec.build_model("lightgcn", ds)
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    for m in (model, other):
        m.eval()
        m.prepare_eval()
    torch.testing.assert_close(model.scores(torch.arange(10)), other.scores(torch.arange(10)), rtol=0, atol=0)
