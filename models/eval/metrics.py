"""Detection metrics used across spoofd (ASVspoof conventions).

Scores: higher = more likely synthetic ("spoof"). Labels: 1 spoof, 0 bonafide.
- EER: the rate where false alarms on bonafide equal misses on spoof.
- minDCF / actDCF with the ASVspoof 5 style cost: Pspoof, Cmiss (missing a
  spoof), Cfa (flagging bonafide); normalised by the cost of the better
  trivial system. actDCF thresholds calibrated LLRs at the Bayes threshold.
- Cllr: the cost of the log-likelihood-ratio scores as calibrated (0 perfect,
  1 uninformative; > 1 harmful), Brümmer & du Preez (2006).
- Bootstrap intervals: files are resampled with replacement inside each class,
  so an EER measured on 78 genuine files carries the width it deserves, and two
  models scored on the same files are compared on the same resamples (paired).
"""
import numpy as np


def _rates(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(scores, kind="mergesort")
    s, l = scores[order], labels[order]
    n_spoof, n_bona = l.sum(), (~l).sum()
    # Threshold below each score i: everything >= s[i] is called spoof.
    miss = np.concatenate([[0], np.cumsum(l)]) / max(n_spoof, 1)       # spoof below threshold
    fa = 1 - np.concatenate([[0], np.cumsum(~l)]) / max(n_bona, 1)     # bonafide at/above threshold
    # Index k: the k lowest scores fall below the threshold, so it lies between
    # s[k-1] and s[k]; take the midpoint (outside the range at both ends).
    thresholds = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    # A threshold cannot fall between equal scores: keep only the cuts between
    # distinct values (and both ends), so tied files are all called the same way and
    # a model that gives every file one score has an EER of 50%, not whatever the
    # order of its files happens to give.
    keep = np.concatenate([[True], s[1:] > s[:-1], [True]])
    return miss[keep], fa[keep], thresholds[keep]


def eer(scores, labels):
    """Returns (eer, threshold)."""
    miss, fa, thr = _rates(scores, labels)
    i = int(np.argmin(np.abs(miss - fa)))
    # Interpolate between the two neighbours that bracket the crossing.
    j = min(i + 1, len(miss) - 1)
    if (miss[i] - fa[i]) * (miss[j] - fa[j]) < 0:
        a = (fa[i] - miss[i]) / ((miss[j] - miss[i]) - (fa[j] - fa[i]))
        return float(miss[i] + a * (miss[j] - miss[i])), float(thr[j])
    return float((miss[i] + fa[i]) / 2), float(thr[i])


def threshold_at_far(scores, labels, far):
    """Lowest threshold whose false-alarm rate on bonafide is <= far."""
    bona = np.sort(np.asarray(scores)[np.asarray(labels) == 0])
    if len(bona) == 0:
        return float("inf")
    k = int(np.ceil((1 - far) * len(bona))) - 1
    k = min(max(k, 0), len(bona) - 1)
    return float(np.nextafter(bona[k], np.inf))


def min_dcf(scores, labels, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    miss, fa, thr = _rates(scores, labels)
    dcf = p_spoof * c_miss * miss + (1 - p_spoof) * c_fa * fa
    default = min(p_spoof * c_miss, (1 - p_spoof) * c_fa)
    i = int(np.argmin(dcf))
    return float(dcf[i] / default), float(thr[i])


def act_dcf(llrs, labels, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    llrs = np.asarray(llrs, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    threshold = np.log((1 - p_spoof) * c_fa / (p_spoof * c_miss))
    miss = np.mean(llrs[labels] < threshold) if labels.any() else 0.0
    fa = np.mean(llrs[~labels] >= threshold) if (~labels).any() else 0.0
    default = min(p_spoof * c_miss, (1 - p_spoof) * c_fa)
    return float((p_spoof * c_miss * miss + (1 - p_spoof) * c_fa * fa) / default)


def cllr(llrs, labels):
    llrs = np.asarray(llrs, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    spoof = np.mean(np.logaddexp(0, -llrs[labels])) / np.log(2) if labels.any() else 0.0
    bona = np.mean(np.logaddexp(0, llrs[~labels])) / np.log(2) if (~labels).any() else 0.0
    return float(0.5 * (spoof + bona))


def bootstrap_eers(score_sets, labels, n_resamples=1000, seed=1):
    """[n_resamples, len(score_sets)] EERs: every resample draws each class's files
    with replacement, and all score sets (models scored on the same files) are
    measured on that same resample, so their columns can be compared pairwise."""
    labels = np.asarray(labels)
    score_sets = [np.asarray(s) for s in score_sets]
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in (0, 1)]
    out = np.empty((n_resamples, len(score_sets)))
    for r in range(n_resamples):
        i = np.concatenate([rng.choice(g, len(g)) for g in groups])
        out[r] = [eer(s[i], labels[i])[0] for s in score_sets]
    return out


def percentile_interval(values, level=0.95):
    """(low, high): the central `level` share of bootstrap values."""
    a = (1 - level) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def eer_interval(scores, labels, n_resamples=1000, level=0.95, seed=1):
    """(low, high): the bootstrap percentile interval of the EER."""
    return percentile_interval(bootstrap_eers([scores], labels, n_resamples, seed)[:, 0], level)


def paired_difference(eers_a, eers_b, level=0.95):
    """From two columns of bootstrap_eers: the interval of EER(a) - EER(b) and the
    share of resamples in which a has the lower EER."""
    d = np.asarray(eers_a) - np.asarray(eers_b)
    return {"interval": percentile_interval(d, level), "a_better_share": float(np.mean(d < 0))}


def paired_eer_difference(scores_a, scores_b, labels, n_resamples=1000, level=0.95, seed=1):
    """EER(a) - EER(b) on the same files: the point value, its bootstrap interval and
    the share of resamples in which a has the lower EER."""
    boot = bootstrap_eers([scores_a, scores_b], labels, n_resamples, seed)
    return {"difference": eer(scores_a, labels)[0] - eer(scores_b, labels)[0],
            **paired_difference(boot[:, 0], boot[:, 1], level)}


def det_curve(scores, labels):
    miss, fa, _ = _rates(scores, labels)
    return fa, miss


def summary(scores, labels, llrs=None):
    out = {"n_bonafide": int(np.sum(np.asarray(labels) == 0)),
           "n_spoof": int(np.sum(np.asarray(labels) == 1))}
    if out["n_bonafide"] and out["n_spoof"]:
        out["eer"], _ = eer(scores, labels)
        out["min_dcf"], _ = min_dcf(scores, labels)
    if llrs is not None:
        out["act_dcf"] = act_dcf(llrs, labels)
        out["cllr"] = cllr(llrs, labels)
    return out
