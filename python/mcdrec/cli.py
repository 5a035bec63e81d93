"""Command line: mcdrec train | evaluate | recommend | compare | datasets."""
from __future__ import annotations

import argparse
import json
import sys

EPILOG = ("Configuration layers: package defaults -> dataset -> model -> --config FILE.yaml -> --set key=value. "
          "Keys keep MMRec's names (epochs, train_batch_size, learning_rate, stopping_step, n_layers, reg_weight, ...).")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcdrec", description="Diffusion-based multimodal recommendation engine.",
                                epilog=EPILOG)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model to early stopping and report test metrics", epilog=EPILOG)
    t.add_argument("--model", required=True, help="bpr, lightgcn, bm3, freedom, mcdrec-bm3, mcdrec-freedom, "
                                                   "bm3-mk, bm3-mrd, bm3-dgd")
    t.add_argument("--dataset", default="tiktok", help="tiktok (default), baby, sports, a folder, or "
                                                       "synthetic:<users>x<items>x<interactions>")
    t.add_argument("--config", help="YAML file of overrides")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one key (repeatable)")
    t.add_argument("--device", help="cpu or cuda (same as --set device=...)")
    t.add_argument("--out", help="run folder (default runs/<model>-<dataset>-<time>)")
    t.add_argument("--grid", action="store_true", help="run every hyper-parameter combination of the config")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")

    e = sub.add_parser("evaluate", help="re-evaluate a run folder's best checkpoint")
    e.add_argument("--run", required=True, help="run folder written by `mcdrec train`")
    e.add_argument("--device")

    r = sub.add_parser("recommend", help="top-k items for users from a run folder")
    r.add_argument("--run", required=True)
    r.add_argument("--users", required=True, help="comma separated user ids")
    r.add_argument("-k", type=int, default=20)
    r.add_argument("--device")

    c = sub.add_parser("compare", help="side-by-side table of run folders (paper format, valid-curve drops)")
    c.add_argument("runs", nargs="+", help="run folders written by `mcdrec train` (finished or still running)")
    c.add_argument("--base", help="run folder the improvement percentages are relative to")
    c.add_argument("--ks", default="5,10,20", help="cut-offs of the Recall/NDCG columns (default 5,10,20)")
    c.add_argument("--curve", action="store_true", help="also print each run's valid curve")
    c.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")

    d = sub.add_parser("datasets", help="list the built-in datasets with their statistics")
    d.add_argument("--json", action="store_true")
    return p


def _train(args) -> int:
    from mcdrec.api import train
    from mcdrec.engine.config import parse_set_args

    overrides = parse_set_args(args.set)
    if args.device:
        overrides["device"] = args.device
    result = train(model=args.model, dataset=args.dataset, config_file=args.config, out=args.out, grid=args.grid,
                   progress=not args.no_progress, **overrides)
    print(f"\nbest valid epoch {result.best_epoch} ({result.config['model']} on {result.config['dataset']}; "
          f"{result.timings.get('epochs', len(result.history))} epochs, "
          f"{result.timings.get('per_epoch_s', {}).get('train', float('nan')):.2f} s per training epoch)")
    print(result.table())
    print(f"results: {result.run_dir / 'results.json'}")
    return 0


def _evaluate(args) -> int:
    from mcdrec.api import evaluate
    from mcdrec.engine.train.trainer import metrics_table

    print(metrics_table(evaluate(args.run, device=args.device)))
    return 0


def _recommend(args) -> int:
    from mcdrec.api import recommend

    users = [int(u) for u in args.users.split(",") if u.strip()]
    top = recommend(args.run, users, k=args.k, device=args.device)
    for u, items in zip(users, top.tolist()):
        print(f"{u}\t{' '.join(map(str, items))}")
    return 0


def _compare(args) -> int:
    from mcdrec.engine.train.compare import compare, markdown

    try:
        ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    except ValueError:
        raise ValueError(f"--ks: expected comma separated integers, got {args.ks!r}") from None
    rows = compare(args.runs, base=args.base, ks=ks)
    print(json.dumps(rows, indent=2) if args.json else markdown(rows, ks, with_curve=args.curve))
    return 0


def _datasets(args) -> int:
    from mcdrec.engine.data.registry import list_datasets

    rows = list_datasets()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<10}{'users':>9}{'items':>9}{'train':>9}{'valid':>9}{'test':>9}  features")
    for r in rows:
        feats = ", ".join(f"{k} {v}" for k, v in (r.get("features") or {}).items()) or "none (id-only)"
        print(f"{r['name']:<10}{r['n_users']:>9}{r['n_items']:>9}{r['n_train']:>9}{r['n_valid']:>9}"
              f"{r['n_test']:>9}  {feats}")
    print("also: any MMRec-format folder path, and synthetic:<users>x<items>x<interactions>")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from mcdrec.engine.config import ConfigError
    from mcdrec.engine.data.errors import DatasetError

    try:
        return {"train": _train, "evaluate": _evaluate, "recommend": _recommend, "compare": _compare,
                "datasets": _datasets}[args.command](args)
    except (ConfigError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"mcdrec {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
