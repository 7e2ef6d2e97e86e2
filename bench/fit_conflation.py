"""Fit the conflation step's parameters (agent/data/conflation-params.json) and report leave-people-out figures.

    .venv/bin/python bench/fit_conflation.py [--data DIR ...] [--repeats 4 | --per-listing] [--write] [--json]
    .venv/bin/python bench/fit_conflation.py --signals

Data: folders in the shared evaluation layout (listing-*.txt + gold.jsonl with `partition` / `partition_persons`
for mixed listings and `provenance.acl_person_ids` for one-person listings); by default ../shared/eval/dev and
../shared/eval/dev-conflation. Listings with the same case id are read once. Nothing from the data is written
except the fitted numbers.

1. Pair model: L2-regularised logistic regression on the pair features of agent.steps.work_pairs (pairs of co-author
   groups of the mixed listings, and random unions of one person's groups, labelled same / different person),
   each weight held to the sign work_pairs.SIGNS allows.
2. Merge and attach thresholds: grid search for the best work-clustering pairwise F1 + detection F1 on the fitting
   listings.
3. Detection model: logistic regression on the listing features (co-author structure, how ambiguous the page's
   name is, whether the page states an affiliation for its subject: conflation.LISTING_FEATURES), each weight held
   to the sign conflation.DETECT_SIGNS allows (--drop holds one at 0); a listing is flagged when the probability
   reaches THRESHOLD (chosen by the held-out detection F1 of --per-listing; the merge/attach search uses it too).

Leave-people-out cross-validation, two ways, so that no person is in both the fitting and the scored listings:
--per-listing scores every listing with parameters fitted on all listings that share none of its people (about 88
of the 94: the setting of a model fitted on all labelled data and used on new people); --repeats N splits the
people in two halves at random N times and fits on the listings of one half, scores those of the other (each fit
sees about a quarter of the mixed listings). Prints detection P/R/F1, pairwise P/R/F1 (as score.py defines them)
and a reliability table (predicted confidence bins vs observed rate of mixed listings) over all scored listings.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/eval") if Path("/work/shared/eval").exists() else ROOT.parent / "shared" / "eval"
PARAMS = ROOT / "agent" / "data" / "conflation-params.json"

from enrich.agent.ingest import parse  # noqa: E402
from enrich.agent.steps import conflation as C  # noqa: E402
from enrich.agent.steps.work_pairs import FEATURES, SIGNS, GroupState  # noqa: E402

MERGE_GRID = [0.3, 0.5, 0.7, 0.8, 0.9, 1.01]  # 1.01: never merge co-author groups
ATTACH_GRID = [0.0, 0.3, 0.5, 0.7, 1.01]  # 1.01: leftovers are proposed as one "not placed" cluster
# Flag at this detection probability: the best held-out (--per-listing) detection F1 among 0.30-0.60 in steps of
# 0.05 with the merge/attach search run at the same threshold (bench figures in the README).
THRESHOLD = 0.4


def norm_title(s: str | None) -> str:
    s = unicodedata.normalize("NFKD", str(s or "")).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9]+", " ", s.replace("&", " and ")).strip()
    return re.sub(r"^the ", "", s)


@dataclass
class Case:
    case_id: str
    mixed: bool
    people: frozenset[str]
    labels: list[str]  # person per work ("?" when the gold does not place it)
    features: C._Features
    splits: set[str]  # the folders holding this listing (the dev negatives are in both dev sets)
    works: list = field(default_factory=list, repr=False)
    name: str | None = None
    _start: GroupState | None = field(default=None, repr=False)

    @property
    def start(self) -> GroupState:
        """The co-author groups before any merge (computed once: they do not depend on the parameters)."""
        if self._start is None:
            self._start = C.initial_state(self.features)
        return self._start


def load(folders: list[Path]) -> list[Case]:
    cases: dict[str, Case] = {}
    for folder in folders:
        for line in (folder / "gold.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            g = json.loads(line)
            if g["case_id"] in cases:
                cases[g["case_id"]].splits.add(folder.name)
                continue
            if g["kind"] == "injection":
                continue
            parsed = parse((folder / g["source_file"]).read_text(encoding="utf-8"))
            works = parsed.works
            if g["kind"] == "conflated":
                persons = g.get("partition_persons") or [{"acl_person_id": str(k)} for k in range(len(g["partition"]))]
                owner = {
                    norm_title(t): p.get("acl_person_id") or f"{g['case_id']}:{k}"
                    for k, p in enumerate(persons)
                    for t in (p.get("titles") or g["partition"][k])
                }
            else:
                ids = (g.get("provenance") or {}).get("acl_person_ids") or [g.get("person_name") or g["case_id"]]
                owner = {norm_title(w.title): ids[0] for w in works}
            labels = [owner.get(norm_title(w.title), "?") for w in works]
            subject = C._subject_form(works, parsed.name)
            cases[g["case_id"]] = Case(
                g["case_id"],
                g["kind"] == "conflated",
                frozenset(set(owner.values())),
                labels,
                C._features(
                    works, subject, parsed.name, C.page_states_affiliation([h.value for h in parsed.hints], parsed.name)
                ),
                {folder.name},
                works,
                parsed.name,
            )
    return list(cases.values())


def synthesize(cases: list[Case], n: int, seed: int = 11) -> list[Case]:
    """Mixed listings made the way the shared builder makes them, but from RANDOM pairs of the fitting people's
    one-person listings: the builder pairs people whose papers are close in topic (hard cases), which teaches a
    model that topic similarity says little; random pairs, as real namesakes are, keep that signal in proportion.
    Every printed form of either subject's name becomes the display name (`X. Surname` of the first)."""
    rng = random.Random(seed)
    singles: dict[str, Case] = {}
    for c in cases:
        if not c.mixed and len(c.people) == 1 and c.name and len(c.works) >= 6:
            singles.setdefault(next(iter(c.people)), c)
    people = sorted(singles)
    out: list[Case] = []
    if len(people) < 2:
        return out
    for k in range(n):
        a, b = rng.sample(people, 2)
        ca, cb = singles[a], singles[b]
        first = C.PersonName.parse(ca.name)
        display = f"{first.given[0][0].upper()}. {ca.name.split()[-1]}" if first and first.given else ca.name
        works, labels = [], []
        for case, person in ((ca, a), (cb, b)):
            subject = C.PersonName.parse(case.name)
            picked = rng.sample(case.works, rng.randint(3, min(6, len(case.works))))
            for w in picked:
                authors = [
                    display if (f := C.PersonName.parse(x)) is not None and subject and f.compatible(subject) else x
                    for x in w.authors
                ]
                works.append(w.model_copy(update={"authors": authors}))
                labels.append(person)
        order = list(range(len(works)))
        rng.shuffle(order)
        works = [works[i] for i in order]
        labels = [labels[i] for i in order]
        feats = C._features(works, C.PersonName.parse(display), display)
        out.append(Case(f"synthetic-{k}", True, frozenset({a, b}), labels, feats, {"synthetic"}, works, display))
    return out


def _majority(labels: list[str], group: list[int]) -> str:
    known = [labels[i] for i in group if labels[i] != "?"]
    return max(set(known), key=known.count) if known else "?"


def pair_data(cases: list[Case], samples: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Group pairs as the agglomeration meets them: the initial co-author groups, plus random unions of one
    person's groups (so sizes and summed vectors look like later merge steps), labelled same / different person."""
    rng = random.Random(seed)
    xs, ys = [], []
    for c in cases:
        init = C._initial_groups(c.features)
        owner = [_majority(c.labels, g) for g in init]
        for s in range(samples + 1):
            groups = []
            for person in sorted(set(owner)):
                mine = [g for g, o in zip(init, owner) if o == person]
                rng.shuffle(mine)
                parts = 1 if s == 0 else rng.randint(1, len(mine))
                if s == 0:
                    parts = len(mine)
                for k in range(parts):
                    merged = [i for g in mine[k::parts] for i in g]
                    if merged:
                        groups.append((person, merged))
            if len(groups) < 2:
                continue
            state = GroupState(c.features.vectors, [g for _, g in groups])
            feats = state.features()
            iu = np.triu_indices(len(groups), 1)
            lab = np.array([p for p, _ in groups], dtype=object)
            known = (lab[iu[0]] != "?") & (lab[iu[1]] != "?")
            xs.append(feats[iu][known])
            ys.append((lab[iu[0]] == lab[iu[1]])[known])
    return np.vstack(xs), np.concatenate(ys).astype(int)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    signs: tuple[int, ...],
    fixed_zero: list[bool] | None = None,
    offset: np.ndarray | None = None,
) -> dict:
    """L2-regularised logistic regression on standardised features whose weights keep the given signs (+1: >= 0,
    -1: <= 0, 0: free; fixed_zero: held at 0); the intercept is free. With `offset` (a fixed score added to every
    row): the features are used as they are (not standardised) and there is no intercept. Returns the model as
    agent/data/conflation-params.json holds it."""
    n, d = x.shape
    if offset is None:
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
    else:
        mean, scale = np.zeros(d), np.ones(d)
    z = (x - mean) / scale
    base = np.zeros(n) if offset is None else offset
    free_b = offset is None

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        t = z @ w + b + base
        p = 1.0 / (1.0 + np.exp(-np.clip(t, -30, 30)))
        value = float(np.sum(np.logaddexp(0.0, t) - y * t)) / n + float(w @ w) / (2 * c * n)
        g = (p - y) / n
        return value, np.concatenate([z.T @ g + w / (c * n), [g.sum()]])

    bounds = [
        (0.0, 0.0) if zero else (0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None)
        for s, zero in zip(signs, fixed_zero or [False] * d)
    ] + [(None, None) if free_b else (0.0, 0.0)]
    theta = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=bounds).x
    return {
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": theta[:d].round(6).tolist(),
        "intercept": round(float(theta[d]), 6),
    }


def fit_detection(lx: np.ndarray, ly: np.ndarray, c: float, drop: frozenset[str], joint: bool = False) -> dict:
    """The detection model. The evidence-of-one-person features (sign -1 in conflation.DETECT_SIGNS) are fitted
    second, as they are, on top of the score the other features give: so a page WITHOUT that evidence keeps the
    confidence the structure and the name give it (absence of an affiliation line is not evidence of several
    people: most single-person pages of aggregators have none). joint=True fits all weights together instead."""
    signs = C.DETECT_SIGNS
    names = C.LISTING_FEATURES
    if joint:
        return fit_logistic(lx, ly, c, signs, fixed_zero=[k in drop for k in names])
    first = [k in drop or s < 0 for k, s in zip(names, signs)]
    det = fit_logistic(lx, ly, c, signs, fixed_zero=first)
    second = [s < 0 and k not in drop for k, s in zip(names, signs)]
    if not any(second):
        return det
    score = ((lx - det["mean"]) / np.array(det["scale"])) @ np.array(det["coef"]) + det["intercept"]
    sel = np.array(second)
    extra = fit_logistic(lx[:, sel], ly, c, tuple(s for s, k in zip(signs, sel) if k), offset=score)
    mean, scale, coef = (np.array(det[k], dtype=float) for k in ("mean", "scale", "coef"))
    mean[sel], scale[sel], coef[sel] = 0.0, 1.0, extra["coef"]
    return {**det, "mean": mean.tolist(), "scale": scale.tolist(), "coef": coef.tolist()}


def pairwise(labels: list[str], clusters: list[list[int]]) -> tuple[int, int, int]:
    pred = {i: k for k, c in enumerate(clusters) for i in c}
    tp = fp = fn = 0
    idx = [i for i, lab in enumerate(labels) if lab != "?"]
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            i, j = idx[a], idx[b]
            same_gold, same_pred = labels[i] == labels[j], pred[i] == pred[j]
            tp += same_gold and same_pred
            fp += (not same_gold) and same_pred
            fn += same_gold and not same_pred
    return tp, fp, fn


def f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _params(pair: dict, merge: float, attach: float, det: dict, threshold: float = THRESHOLD) -> C.Params:
    return C.Params.from_dict(
        {
            "pair": {"features": list(FEATURES), **pair},
            "merge": merge,
            "attach": attach,
            "detect": {"features": list(C.LISTING_FEATURES), **det},
            "threshold": threshold,
        }
    )


_NO_DETECT = {"mean": [0.0] * len(C.LISTING_FEATURES), "scale": [1.0] * len(C.LISTING_FEATURES)}


def predict_from(analyses: list[tuple[Case, C.Analysis]], params: C.Params):
    out = []
    for c, a in analyses:
        conf = C.listing_confidence(a.listing_x, params, a.name_conflict)
        detected = conf >= params.threshold and len(a.clusters) >= 2 and c.features.n >= 4
        clusters = C.final_clusters(a, params) if detected else [list(range(c.features.n))]
        out.append((c, conf, detected, clusters))
    return out


def predict(cases: list[Case], params: C.Params):
    return predict_from([(c, C.analyse_features(c.features, params, c.start)) for c in cases], params)


def score(preds) -> dict:
    tp = fp = fn = ptp = pfp = pfn = 0
    singles = {"full name": [0, 0], "initials only": [0, 0]}  # one-person listings: [flagged, all] by name form
    for c, _, detected, clusters in preds:
        tp += c.mixed and detected
        fn += c.mixed and not detected
        fp += (not c.mixed) and detected
        if c.mixed:
            t, f_, n_ = pairwise(c.labels, clusters)
            ptp, pfp, pfn = ptp + t, pfp + f_, pfn + n_
        else:
            form = "initials only" if c.features.name and c.features.name.initials_only else "full name"
            singles[form] = [singles[form][0] + bool(detected), singles[form][1] + 1]
    return {
        "detection": f1(tp, fp, fn),
        "pairwise": f1(ptp, pfp, pfn),
        "counts": (tp, fp, fn),
        "singles_flagged": singles,
    }


def threshold_sweep(pooled: list[tuple[float, bool]], thresholds=(0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)) -> list:
    """Detection P/R/F1 of the held-out confidences at other thresholds (pairwise needs a refit: --threshold)."""
    rows = []
    for t in thresholds:
        tp = sum(1 for p, m in pooled if m and p >= t)
        fp = sum(1 for p, m in pooled if not m and p >= t)
        fn = sum(1 for p, m in pooled if m and p < t)
        rows.append({"threshold": t, "detection": [round(v, 3) for v in f1(tp, fp, fn)], "counts": [tp, fp, fn]})
    return rows


SYNTHETIC = (
    0  # random-pair mixed listings added to the pair model's fitting data (--synthetic; 60 scored worse held out)
)


def fit(
    cases: list[Case],
    c_pair: float = 0.05,
    c_detect: float = 1.0,
    synthetic: int = SYNTHETIC,
    threshold: float = THRESHOLD,
    drop: frozenset[str] = frozenset(),
    joint: bool = False,
) -> dict:
    """drop: listing features held at weight 0 (to measure the model without them); joint: see fit_detection."""
    extra = synthesize(cases, synthetic) if synthetic else []
    # Within-listing contrasts (both labels in one listing): the builder's mixed listings + random-pair ones.
    x, y = pair_data([c for c in cases if c.mixed] + extra)
    # Unweighted: the fitted intercept keeps the real share of same-person pairs, so a pair with no evidence either
    # way is not pushed towards a merge. Strong regularisation: the features are many and correlated.
    pair = fit_logistic(x, y, c_pair, SIGNS)
    best = None
    ly = np.array([c.mixed for c in cases], dtype=int)
    for merge in MERGE_GRID:
        # The detection model depends on the clustering: fit it for this merge threshold, then score both.
        base = _params(pair, merge, 0.5, {**_NO_DETECT, "coef": [0.0] * len(C.LISTING_FEATURES), "intercept": 0.0})
        analyses = [(c, C.analyse_features(c.features, base, c.start)) for c in cases]
        lx = np.array([a.listing_x for _, a in analyses])
        det = fit_detection(lx, ly, c_detect, drop, joint)
        for attach in ATTACH_GRID:
            m = score(predict_from(analyses, _params(pair, merge, attach, det, threshold)))
            objective = m["pairwise"][2] + m["detection"][2]
            if best is None or objective > best[0] + 1e-9:
                best = (objective, merge, attach, det)
    _, merge, attach, det = best
    return {
        "pair": {"features": list(FEATURES), **pair},
        "merge": merge,
        "attach": attach,
        "detect": {"features": list(C.LISTING_FEATURES), **det},
        "threshold": threshold,
    }


def cross_validate(
    cases: list[Case],
    repeats: int,
    seed: int = 7,
    synthetic: int = SYNTHETIC,
    threshold: float = THRESHOLD,
    drop: frozenset[str] = frozenset(),
    joint: bool = False,
) -> dict:
    people = sorted({p for c in cases for p in c.people})
    rng = random.Random(seed)
    runs, pooled = [], []
    for _ in range(repeats):
        rng.shuffle(people)
        half = set(people[: len(people) // 2])
        for fit_half in (half, set(people) - half):
            train = [c for c in cases if c.people <= fit_half]
            test = [c for c in cases if not (c.people & fit_half)]
            if not any(c.mixed for c in train) or not test:
                continue
            params = C.Params.from_dict(fit(train, synthetic=synthetic, threshold=threshold, drop=drop, joint=joint))
            preds = predict(test, params)
            runs.append({**score(preds), "n_test": len(test), "n_mixed": sum(c.mixed for c in test)})
            pooled += [(conf, c.mixed) for c, conf, _, _ in preds]
    return {"runs": runs, "pooled": pooled}


def cross_validate_per_listing(
    cases: list[Case],
    progress: bool = False,
    synthetic: int = SYNTHETIC,
    threshold: float = THRESHOLD,
    drop: frozenset[str] = frozenset(),
    joint: bool = False,
) -> dict:
    """Every listing scored once, by parameters fitted on all listings that share none of its people."""
    preds = []
    for k, c in enumerate(cases, 1):
        train = [t for t in cases if not (t.people & c.people)]
        params = C.Params.from_dict(fit(train, synthetic=synthetic, threshold=threshold, drop=drop, joint=joint))
        preds += predict([c], params)
        if progress:
            print(f"  [{k}/{len(cases)}] {c.case_id}: {len(train)} fitting listings", file=sys.stderr)
    return {
        "runs": [{**score(preds), "n_test": len(preds), "n_mixed": sum(c.mixed for c in cases)}],
        "pooled": [(conf, c.mixed) for c, conf, _, _ in preds],
        "preds": preds,
    }


def signals(cases: list[Case]) -> dict:
    """What separates one person's co-author groups from two people's, in the labelled mixed listings: the AUC of
    each pair feature (1.0: always higher for one person's groups, 0.5: no information, below 0.5: higher for two
    people's), over all pairs of co-author groups and over pairs of groups of >= 2 works; and the pairwise F1 that
    co-author groups allow with detection perfect (an upper bound for methods that cannot place the other works)."""
    from sklearn.metrics import roc_auc_score

    xs, ys, big = [], [], []
    bounds = {"one cluster": [0, 0, 0], "co-author groups": [0, 0, 0], "largest group + the rest": [0, 0, 0]}
    for c in cases:
        if not c.mixed:
            continue
        groups = c.start.groups
        owner = [_majority(c.labels, g) for g in groups]
        feats = c.start.features()
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if "?" not in (owner[a], owner[b]):
                    xs.append(feats[a, b])
                    ys.append(owner[a] == owner[b])
                    big.append(min(len(groups[a]), len(groups[b])) >= 2)
        ordered = sorted(groups, key=len, reverse=True)
        rest = [i for g in ordered[1:] for i in g]
        for name, clusters in (
            ("one cluster", [list(range(c.features.n))]),
            ("co-author groups", groups),
            ("largest group + the rest", [ordered[0]] + ([rest] if rest else [])),
        ):
            bounds[name] = [u + v for u, v in zip(bounds[name], pairwise(c.labels, clusters))]
    x, y, sel = np.array(xs), np.array(ys), np.array(big)
    auc = {
        f: {
            "all_groups": round(float(roc_auc_score(y, x[:, k])), 3),
            "groups_of_2+": round(float(roc_auc_score(y[sel], x[sel, k])), 3),
        }
        for k, f in enumerate(FEATURES)
        if np.ptp(x[:, k]) > 0
    }
    return {
        "group_pairs": int(len(y)),
        "same_person": int(y.sum()),
        "group_pairs_2+": int(sel.sum()),
        "auc": auc,
        "pairwise_f1_with_perfect_detection": {k: round(f1(*v)[2], 3) for k, v in bounds.items()},
    }


def reliability(pooled: list[tuple[float, bool]], bins=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001)) -> list[dict]:
    rows = []
    for lo, hi in zip(bins, bins[1:]):
        sel = [m for p, m in pooled if lo <= p < hi]
        conf = [p for p, _ in pooled if lo <= p < hi]
        rows.append(
            {
                "bin": f"{lo:.1f}-{min(hi, 1.0):.1f}",
                "n": len(sel),
                "mean_confidence": round(statistics.mean(conf), 3) if conf else None,
                "observed_mixed": round(sum(sel) / len(sel), 3) if sel else None,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", help="evaluation folder(s) with gold.jsonl")
    ap.add_argument("--repeats", type=int, default=10, help="random halvings of the people for cross-validation")
    ap.add_argument(
        "--per-listing",
        action="store_true",
        help="instead of halvings: score every listing with parameters fitted on the listings sharing none of its "
        "people (one fit per listing; slow)",
    )
    ap.add_argument("--write", action="store_true", help=f"fit on all listings and write {PARAMS.relative_to(ROOT)}")
    ap.add_argument(
        "--signals",
        action="store_true",
        help="only report how well each pair feature separates one person's co-author groups from two people's",
    )
    ap.add_argument(
        "--synthetic", type=int, default=SYNTHETIC, help="random-pair mixed listings added to the pair model's data"
    )
    ap.add_argument(
        "--threshold", type=float, default=THRESHOLD, help="detection probability at which a listing is flagged"
    )
    ap.add_argument(
        "--drop",
        action="append",
        default=[],
        choices=C.LISTING_FEATURES,
        help="hold this listing feature's detection weight at 0 (measure the model without it; repeatable)",
    )
    ap.add_argument(
        "--joint",
        action="store_true",
        help="fit the evidence-of-one-person weights together with the others (default: on top of them)",
    )
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    drop = frozenset(a.drop)
    folders = a.data or [SHARED / "dev", SHARED / "dev-conflation"]
    for d in folders:
        if not (d / "gold.jsonl").exists():
            sys.exit(f"error: no gold.jsonl in {d}")
    cases = load(folders)
    print(
        f"{len(cases)} listings ({sum(c.mixed for c in cases)} mixed), "
        f"{len({p for c in cases for p in c.people})} people",
        file=sys.stderr,
    )
    report: dict = {}
    if a.signals:
        print(json.dumps(signals(cases), indent=1))
        return
    if a.repeats or a.per_listing:
        cv = (
            cross_validate_per_listing(
                cases, progress=True, synthetic=a.synthetic, threshold=a.threshold, drop=drop, joint=a.joint
            )
            if a.per_listing
            else cross_validate(
                cases, a.repeats, synthetic=a.synthetic, threshold=a.threshold, drop=drop, joint=a.joint
            )
        )
        det = [r["detection"][2] for r in cv["runs"]]
        pw = [r["pairwise"][2] for r in cv["runs"]]
        report["cv"] = {
            "folds": len(cv["runs"]),
            "detection_f1_mean": round(statistics.mean(det), 4),
            "detection_f1_sd": round(statistics.pstdev(det), 4),
            "detection_p_mean": round(statistics.mean(r["detection"][0] for r in cv["runs"]), 4),
            "detection_r_mean": round(statistics.mean(r["detection"][1] for r in cv["runs"]), 4),
            "pairwise_f1_mean": round(statistics.mean(pw), 4),
            "pairwise_f1_sd": round(statistics.pstdev(pw), 4),
            "test_listings_mean": round(statistics.mean(r["n_test"] for r in cv["runs"]), 1),
            "test_mixed_mean": round(statistics.mean(r["n_mixed"] for r in cv["runs"]), 1),
            "reliability": reliability(cv["pooled"]),
            "threshold_sweep": threshold_sweep(cv["pooled"]),
        }
        if "preds" in cv:  # per listing: one run, scored over every prediction
            report["cv"]["counts"] = cv["runs"][0]["counts"]
            report["cv"]["singles_flagged"] = cv["runs"][0]["singles_flagged"]
            for split in sorted({x for c in cases for x in c.splits}):
                m = score([p for p in cv["preds"] if split in p[0].splits])
                report["cv"][f"split:{split}"] = {
                    "detection": m["detection"],
                    "pairwise": m["pairwise"],
                    "counts": m["counts"],
                }
    params = fit(cases, synthetic=a.synthetic, threshold=a.threshold, drop=drop, joint=a.joint)
    report["in_sample"] = score(predict(cases, C.Params.from_dict(params)))
    report["params"] = {"merge": params["merge"], "attach": params["attach"], "threshold": params["threshold"]}
    if a.write:
        PARAMS.write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
        report["written"] = str(PARAMS)
    if a.json:
        print(json.dumps(report, indent=1))
        return
    if "cv" in report:
        cv = report["cv"]
        print(
            f"leave-people-out CV, {cv['folds']} folds (~{cv['test_listings_mean']} scored listings each, "
            f"~{cv['test_mixed_mean']} mixed):"
        )
        print(
            f"  detection F1 {cv['detection_f1_mean']:.3f} ± {cv['detection_f1_sd']:.3f}  "
            f"(P {cv['detection_p_mean']:.3f}  R {cv['detection_r_mean']:.3f})"
        )
        print(f"  pairwise  F1 {cv['pairwise_f1_mean']:.3f} ± {cv['pairwise_f1_sd']:.3f}")
        for k, v in cv.items():
            if k.startswith("split:"):
                print(
                    f"  {k[6:]}: detection P/R/F1 {'/'.join(f'{x:.3f}' for x in v['detection'])}, "
                    f"pairwise P/R/F1 {'/'.join(f'{x:.3f}' for x in v['pairwise'])}"
                )
        if "singles_flagged" in cv:
            print(f"  tp/fp/fn {cv['counts']}; one-person listings flagged [flagged, all]: {cv['singles_flagged']}")
        print("  reliability (confidence bin: listings, mean confidence, observed share mixed)")
        for r in cv["reliability"]:
            print(f"    {r['bin']}: {r['n']:4d}  {r['mean_confidence']}  {r['observed_mixed']}")
        print("  detection P/R/F1 (tp, fp, fn) of the same held-out confidences at other thresholds")
        for r in cv["threshold_sweep"]:
            print(f"    {r['threshold']:.2f}: {'/'.join(f'{v:.3f}' for v in r['detection'])} {tuple(r['counts'])}")
    s = report["in_sample"]
    print(
        f"fitted on all: detection P/R/F1 {'/'.join(f'{v:.3f}' for v in s['detection'])} "
        f"(tp/fp/fn {s['counts']}; one-person listings flagged {s['singles_flagged']}), "
        f"pairwise P/R/F1 {'/'.join(f'{v:.3f}' for v in s['pairwise'])}; "
        f"merge {params['merge']} attach {params['attach']} threshold {params['threshold']}"
    )
    if a.write:
        print(f"wrote {PARAMS}")


if __name__ == "__main__":
    main()
