"""k-means for the cluster-based strategies (TypiClust, ProbCover's purity, cluster-margin).

Small pools get scikit-learn's ``KMeans`` on every row, as scikit-activeml and the
TypiClust paper use. Larger pools (above max(KMEANS_SAMPLE, KMEANS_PER_CLUSTER *
clusters) rows) get an approximation whose cost stops growing with the pool: k-means
on a uniform random sample of that many rows (about 40 per cluster places the
centroids well), seeded by k-means++ (:func:`alloop.strategies.seeding.kmeans_pp`), Lloyd
iterations until fewer than KMEANS_SAMPLE_TOL of the sampled rows change cluster (at most
KMEANS_SAMPLE_ITER), then every row assigned to its nearest centroid in one chunked GEMM.
At 100k x 384 with 1,100 clusters, under 0.1% of rows changed after 8 iterations and none
after 16; each iteration is a 44k x 1,100 x 384 GEMM (0.5 s here).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from alloop.strategies._linalg import nearest_rows
from alloop.strategies.base import StrategyInputs
from alloop.strategies.seeding import kmeans_pp

__all__ = ["cluster_labels", "lloyd"]

KMEANS_SAMPLE = 10_000
KMEANS_PER_CLUSTER = 40
KMEANS_SAMPLE_ITER = 20
KMEANS_SAMPLE_TOL = 1e-3


def cluster_labels(
    x: np.ndarray, n_clusters: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means labels (n,) int64 of float32 ``x`` and the centroids (K, d) float32.

    Seeded from ``rng``; exact scikit-learn ``KMeans`` on small pools, the sampled
    approximation of the module docstring above max(KMEANS_SAMPLE,
    KMEANS_PER_CLUSTER * n_clusters) rows.
    """
    seed = int(rng.integers(2**31 - 1))
    rows = max(KMEANS_SAMPLE, KMEANS_PER_CLUSTER * n_clusters)
    if x.shape[0] <= rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates: fewer clusters
            model = KMeans(n_clusters, n_init=1, random_state=seed).fit(x)
        return model.labels_.astype(np.int64), model.cluster_centers_.astype(np.float32)
    sample = x[np.sort(rng.choice(x.shape[0], rows, replace=False))]
    seeds, _ = kmeans_pp(StrategyInputs(embeddings=sample), n_clusters, rng=rng)
    centers = lloyd(sample, sample[seeds], KMEANS_SAMPLE_ITER, tol=KMEANS_SAMPLE_TOL)
    return nearest_rows(x, centers), centers


def lloyd(x: np.ndarray, centers: np.ndarray, max_iter: int, *, tol: float = 0.0) -> np.ndarray:
    """Lloyd iterations from ``centers`` (K, d) until at most ``tol`` of the rows change label
    (0: none) or ``max_iter``.

    A cluster that loses every member keeps its centroid. Returns the centroids float32.
    """
    centers = np.array(centers, dtype=np.float32)
    labels = None
    for _ in range(max_iter):
        new = nearest_rows(x, centers)
        if labels is not None and np.count_nonzero(new != labels) <= tol * x.shape[0]:
            break
        labels = new
        counts = np.bincount(labels, minlength=centers.shape[0])
        full = counts > 0
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[full]
        sums = np.add.reduceat(
            x[np.argsort(labels, kind="stable")], starts, axis=0, dtype=np.float64
        )
        centers[full] = sums / counts[full, None]
    return centers
