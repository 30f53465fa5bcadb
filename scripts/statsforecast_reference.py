#!/usr/bin/env python3
"""Reference figures from statsforecast on the benchmarks' own splits.

For every data set and window the benches use, fits statsforecast's models on the same
training histories, and reports per set the best single model and the best equal-weight
combination (pairs and triples of the models) by MASE and by MAE, with the same measures as
the benches (`src/forecast/metrics.rs`: MASE scaled by the in-sample MAE of the seasonal naive
of the raw training history, per series mean; MAE per series mean), and the seconds the
models of the best combination took to fit (one core). Output: JSON on standard output,
committed as `benches/data/statsforecast_reference.json` so that the benches compare without
Python.

    python3 -m venv /tmp/sf && /tmp/sf/bin/pip install statsforecast==2.1.1 pandas
    /tmp/sf/bin/python scripts/statsforecast_reference.py > benches/data/statsforecast_reference.json

Sets: `aus_retail` (monthly, last 12 months), the wholesaler's daily SKU series in the four
28-day windows of `benches/daily_accuracy.rs` (the fit sees the days before each window;
training history clipped at zero as the engine reads it: net returns are no demand), and the
small public sets in `tests/data/public/` (monthly: last 12 months; quarterly: last 8
quarters, season 4). Pass set-name prefixes as arguments to run only those sets.
"""
import gzip
import io
import itertools
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    AutoARIMA,
    AutoETS,
    AutoTheta,
    CrostonOptimized,
    HistoricAverage,
    Naive,
    SeasonalNaive,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def mase_scale(train, m):
    lag = m if len(train) > m else 1
    if len(train) <= lag:
        return float("nan")
    return float(np.mean(np.abs(train[lag:] - train[:-lag])))


def fit(models, trains, h):
    """Forecasts of every model for every series: {name: array (series, h)}, seconds."""
    out, secs = {}, {}
    frames = []
    for i, y in enumerate(trains):
        y = np.maximum(np.asarray(y, dtype=float), 0.0)
        frames.append(pd.DataFrame({"unique_id": i, "ds": np.arange(len(y)), "y": y}))
    df = pd.concat(frames, ignore_index=True)
    for name, model in models:
        t = time.perf_counter()
        sf = StatsForecast(models=[model], freq=1, n_jobs=1, fallback_model=HistoricAverage())
        fc = sf.forecast(df=df, h=h)
        secs[name] = time.perf_counter() - t
        col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        fc = fc.sort_values(["unique_id", "ds"])
        v = fc[col].to_numpy().reshape(len(trains), h)
        # A model that cannot forecast a short history leaves NaN (SeasonalNaive with fewer
        # points than a season): those series take the historic average, as the fallback would.
        for i in np.where(~np.isfinite(v).all(axis=1))[0]:
            y = np.maximum(np.asarray(trains[i], dtype=float), 0.0)
            v[i] = y.mean() if len(y) else 0.0
        out[name] = np.clip(v, 0.0, None)
    return out, secs


def score(fc, trains, tests, m):
    mases, maes = [], []
    for i, (tr, te) in enumerate(zip(trains, tests)):
        e = float(np.mean(np.abs(fc[i] - te)))
        maes.append(e)
        s = mase_scale(np.asarray(tr, dtype=float), m)
        if s > 0 and np.isfinite(s):
            mases.append(e / s)
    return float(np.mean(mases)), float(np.mean(maes))


def evaluate(name, models, trains, tests, h, m):
    fcs, secs = fit(models, trains, h)
    names = [n for n, _ in models]
    singles = {n: score(fcs[n], trains, tests, m) for n in names}
    combos = {}
    for k in (2, 3):
        for c in itertools.combinations(names, k):
            fc = sum(fcs[n] for n in c) / k
            combos["+".join(c)] = score(fc, trains, tests, m)

    def best(d, i):
        key = min(d, key=lambda n: d[n][i])
        return {"model": key, "mase": d[key][0], "mae": d[key][1]}

    res = {
        "set": name,
        "series": len(trains),
        "h": h,
        "season": m,
        "best_single_mase": best(singles, 0),
        "best_single_mae": best(singles, 1),
        "best_combination_mase": best(combos, 0),
        "best_combination_mae": best(combos, 1),
        "model_seconds": secs,
        "singles": {n: {"mase": v[0], "mae": v[1]} for n, v in singles.items()},
    }
    for key in ("best_combination_mase", "best_combination_mae"):
        res[key]["seconds"] = sum(secs[n] for n in res[key]["model"].split("+"))
    print(json.dumps(res), file=sys.stderr)
    return res


def read_long(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        df = pd.read_csv(f, dtype={"series_id": str, "period": str})
    order = list(dict.fromkeys(df["series_id"]))
    groups = {k: g.sort_values("period")["quantity"].to_numpy(dtype=float) for k, g in df.groupby("series_id")}
    return [groups[k] for k in order]


def monthly_models(m):
    return [
        ("AutoETS", AutoETS(season_length=m)),
        ("AutoARIMA", AutoARIMA(season_length=m)),
        ("AutoTheta", AutoTheta(season_length=m)),
        ("SeasonalNaive", SeasonalNaive(season_length=m)),
        ("Naive", Naive()),
        ("HistoricAverage", HistoricAverage()),
    ]


def daily_models():
    # AutoARIMA is left out on the daily sets: fitting it on 2,797 daily series per window
    # takes tens of minutes on one core, and it is not in the best daily combinations.
    return [
        ("AutoETS", AutoETS(season_length=7)),
        ("SeasonalNaive", SeasonalNaive(season_length=7)),
        ("Naive", Naive()),
        ("HistoricAverage", HistoricAverage()),
        ("CrostonOptimized", CrostonOptimized()),
        ("ADIDA", ADIDA()),
        ("IMAPA", IMAPA()),
    ]


def monthly_set(name, series, h=12, m=12):
    used = [s for s in series if len(s) > h]
    trains = [s[:-h] for s in used]
    tests = [s[-h:] for s in used]
    return evaluate(name, monthly_models(m), trains, tests, h, m)


def main():
    only = set(sys.argv[1:])
    results = []
    want = lambda n: not only or any(n.startswith(o) for o in only)
    if want("aus_retail"):
        results.append(monthly_set("aus_retail", read_long(os.path.join(ROOT, "tests/data/aus_retail_monthly.csv"))))
    pub = os.path.join(ROOT, "tests/data/public")
    if os.path.isdir(pub):
        for f in sorted(os.listdir(pub)):
            if f.endswith(".csv") and want(f[:-4]):
                h, m = (8, 4) if "quarterly" in f else (12, 12)
                results.append(monthly_set(f[:-4], read_long(os.path.join(pub, f)), h, m))
    if want("daily"):
        daily = read_long(os.path.join(ROOT, "tests/data/online_retail_daily_to_2011-09-30.csv.gz"))
        length = max(len(s) for s in daily)
        for w in (3, 2, 1, 0):
            end = length - w * 28
            cut = end - 28
            trains, tests = [], []
            for s in daily:
                start = length - len(s)
                if start < cut:
                    trains.append(s[: cut - start])
                    tests.append(s[cut - start : end - start])
            results.append(evaluate(f"daily_window_end-{w * 28}d", daily_models(), trains, tests, 28, 7))
    json.dump({"statsforecast": "2.1.1", "sets": results}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
