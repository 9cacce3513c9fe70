"""Checks of the knowledge base the paper lacks: clusters vs sales score, interview agreement (the bias audit
per applicant is ``sales_ability.knowledge.audit``).

The paper's Fig. 6 and 7 (PCA to 2D, KMeans with k = 4 and 5) are reproduced and measured: the share of
sales-score variance explained by cluster (eta squared), silhouette, and the adjusted Rand index between
clusters and sales-score bands. Because the clusters are of the traits themselves, a score computed from the
same traits is explained by them under almost any directions: each eta squared is set against a null, the
same clusters and thresholds under every other choice of the five directions (31 of them).
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sales_ability.knowledge.rate import rate, sales_scores, with_directions
from sales_ability.plotting import pyplot, save_figure
from sales_ability.traits import INTERVIEW, TRAITS


def eta_squared(values: np.ndarray, groups: np.ndarray) -> float:
    """Share of the variance of ``values`` explained by ``groups`` (between-group / total sum of squares)."""
    values = np.asarray(values, float)
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return 0.0
    between = sum(
        len(v) * (v.mean() - values.mean()) ** 2 for g in np.unique(groups) for v in [values[groups == g]]
    )
    return float(between / total)


def score_bands(sales_score: np.ndarray, k: int) -> np.ndarray:
    """``k`` sales-score bands of about equal size; tied scores share a band (so row order never matters)."""
    ranks = stats.rankdata(sales_score, method="average") - 1
    return np.minimum((ranks * k // len(sales_score)).astype(int), k - 1)


def other_directions(kb: dict) -> list[dict]:
    """``kb`` under each of the 31 other choices of the five traits' directions (same thresholds)."""
    mine = tuple(kb["traits"][t]["direction"] for t in TRAITS)
    return [with_directions(kb, dict(zip(TRAITS, choice, strict=True)))
            for choice in product(("positive", "negative"), repeat=len(TRAITS)) if choice != mine]


def cluster_validation(rated: pd.DataFrame, ks: tuple[int, ...] = (4, 5), seed: int = 0,
                       kb: dict | None = None) -> tuple[dict, dict]:
    """PCA to 2D then KMeans for each k; returns metrics and the arrays the figures need. With ``kb`` (the
    knowledge base ``rated`` was scored with), each k's eta squared also gets its null: the share of the 31
    other direction choices whose sales score the same clusters explain at least as well.

    The rows are put in one canonical order (by their trait values) first: KMeans' initialisation picks
    rows by position, so without it reordering the same candidates could change the clusters.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    x = rated[list(TRAITS)].to_numpy(float)
    order = np.lexsort(x.T[::-1])
    x = x[order]
    sales = rated["sales_score"].to_numpy(float)[order]
    if len(rated) < 3:
        return {"note": f"{len(rated)} candidates: too few to cluster"}, {"xy": np.zeros((len(rated), 2)), "sales": sales, "labels": {}}
    # the sales scores under the configured directions and under each of the 31 others, once for every k
    null = None if kb is None else (sales_scores(x, kb), [sales_scores(x, other) for other in other_directions(kb)])
    pca = PCA(n_components=2, random_state=seed)
    xy = pca.fit_transform(x)
    metrics: dict = {"pca_explained_variance": [round(float(v), 4) for v in pca.explained_variance_ratio_]}
    plots: dict = {"xy": xy, "sales": sales, "labels": {}}
    for k in ks:
        if len(rated) <= k:
            continue
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(xy)
        plots["labels"][k] = labels
        metrics[f"k{k}"] = {
            "eta_squared": round(eta_squared(sales, labels), 4),
            **({} if null is None else _direction_null(labels, *null)),
            "silhouette": round(float(silhouette_score(xy, labels)), 4) if len(set(labels)) > 1 else None,
            "adjusted_rand_index": round(float(adjusted_rand_score(score_bands(sales, k), labels)), 4),
        }
    return metrics, plots


def _direction_null(labels: np.ndarray, scores: np.ndarray, other_scores: list[np.ndarray]) -> dict:
    observed = eta_squared(scores, labels)
    null = np.array([eta_squared(other, labels) for other in other_scores])
    return {"null_directions": int(len(null)), "null_eta_squared_median": round(float(np.median(null)), 4),
            "null_share_at_least_as_high": round(float((null >= observed - 1e-12).mean()), 4)}


def bin_shares(rated: pd.DataFrame) -> dict:
    """Share of rows in each 1..10 score bin per trait, and the largest distance from the 10% the knowledge
    base's deciles give the labels it was fitted on: predictions shrink towards the mean and pile into the
    middle bins, so for what is served the bins are not deciles."""
    out: dict = {"n": int(len(rated))}
    for t in TRAITS:
        shares = rated[f"score_{t}"].value_counts(normalize=True).reindex(range(1, 11), fill_value=0.0)
        out[t] = {"shares": [round(float(v), 4) for v in shares], "bins_used": int((shares > 0).sum()),
                  "max_gap_from_10_percent": round(float((shares - 0.1).abs().max()), 4)}
    return out


def interview_agreement(labels: pd.DataFrame, kb: dict) -> dict | None:
    """Spearman of the sales score with First Impressions' ``interview`` rating, for the configured
    directions and with each single trait's direction flipped. None when there is no interview column."""
    if INTERVIEW not in labels or labels[INTERVIEW].isna().all():
        return None
    frame = labels.dropna(subset=[INTERVIEW])

    def rho(kb_: dict) -> float:
        rated, _ = rate(frame, kb_, id_column="clip_id")
        return round(float(stats.spearmanr(rated["sales_score"], rated[INTERVIEW]).statistic), 4)

    out = {"configured": rho(kb)}
    for trait in TRAITS:
        current = kb["traits"][trait]["direction"]
        flipped = "negative" if current == "positive" else "positive"
        out[f"flip_{trait}"] = rho(with_directions(kb, {trait: flipped}))
    return out


# --- figures ---------------------------------------------------------------------------------------


def plot_trait_distributions(labels: pd.DataFrame, kb: dict, path: str | Path) -> Path:
    """Paper Fig. 4: per-trait histogram, the fitted density, and the decile thresholds."""
    from scipy import stats as st

    plt = pyplot()
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.6))
    grid = np.linspace(0, 1, 400)
    for ax, trait in zip(axes, TRAITS, strict=True):
        entry = kb["traits"][trait]
        ax.hist(labels[trait], bins=40, range=(0, 1), density=True, color="#9ecae1", label="labels")
        dist = entry.get("distribution")
        if dist:
            frozen = getattr(st, dist["name"])(**dist["params"])
            ax.plot(grid, frozen.pdf(grid), color="#08519c", label=f"fitted {dist['name']}")
        for t in entry["thresholds"]:
            ax.axvline(t, color="#de2d26", lw=0.8, alpha=0.7)
        ax.set_title(f"{trait} ({entry['direction']})")
        ax.set_xlim(0, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Trait distributions and score thresholds ({kb['knowledge_base']} knowledge base)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_sales_scores(rated: pd.DataFrame, path: str | Path, id_column: str = "clip_id", limit: int = 60) -> Path:
    """Paper Fig. 5: the sales score of each test candidate, highest first."""
    plt = pyplot()
    top = rated.sort_values("sales_score", ascending=False).head(limit)
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(top)), 3.8))
    ax.bar(range(len(top)), top["sales_score"], color=plt.cm.viridis((top["sales_score"] - 1) / 9))
    ax.set_xticks(range(len(top)), top[id_column].astype(str), rotation=90, fontsize=6)
    ax.set_ylim(1, 10)
    ax.set_ylabel("sales score (1..10)")
    ax.set_title("Sales scores of the test candidates (decision support, not a verdict)")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_clusters(plots: dict, path: str | Path) -> Path:
    """Paper Fig. 6/7: PCA plane, points coloured by sales score, one panel per k with cluster outlines."""
    plt = pyplot()
    ks = sorted(plots["labels"])
    fig, axes = plt.subplots(1, max(1, len(ks)), figsize=(6 * max(1, len(ks)), 4.8), squeeze=False)
    xy, sales = plots["xy"], plots["sales"]
    if not ks:
        axes[0][0].scatter(xy[:, 0], xy[:, 1], c=sales, cmap="viridis", vmin=1, vmax=10)
        axes[0][0].set_title(f"{len(sales)} candidates: too few for KMeans with k = 4 or 5")
    for ax, k in zip(axes[0], ks, strict=False):
        labels = plots["labels"][k]
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=sales, cmap="viridis", vmin=1, vmax=10, s=28, edgecolors="none")
        for c in np.unique(labels):
            pts = xy[labels == c]
            centre = pts.mean(axis=0)
            ax.scatter(*centre, marker="x", color="black", s=60)
            ax.annotate(f"cluster {c}\nmean {sales[labels == c].mean():.1f}", centre, fontsize=7)
        ax.set_title(f"KMeans k={k} on PCA(traits)")
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        fig.colorbar(sc, ax=ax, label="sales score")
    fig.tight_layout()
    return save_figure(fig, path)
