"""BatchBALD: greedy batch selection by joint mutual information.

Kirsch, van Amersfoort & Gal (2019), "BatchBALD: Efficient and Diverse Batch
Acquisition for Deep Bayesian Active Learning" (scikit-activeml ``BatchBALD``).
Pick t maximises ``H(y_1..y_{t-1}, y) - sum_i H(y_i | w)`` (the conditional term of
the earlier picks is a constant and is left out of the reported score).

The joint over the labels of the earlier picks is kept as a matrix J (M, K): the
log-probability of each label configuration under each of the K samples. It is exact
while ``C ** t <= max_configs``; then M = ``n_configs`` configurations are sampled
(each from one sample's predictive, ``n_configs // K`` per sample) and the joint
entropy is estimated by importance sampling, as in the paper. For every candidate
the joint entropy needs ``softmax_K(J) @ P_n`` (M, C): one GEMM for a whole chunk.

Large pools: BatchBALD runs on the ``max_pool`` candidates with the highest BALD
score (a documented approximation; the paper's experiments use pools of ~10^4).
"""

from __future__ import annotations

import numpy as np

from alloop.strategies._linalg import check_k, empty_selection, rand_argmax, samples_3d
from alloop.strategies.base import StrategyInputs, select_top_k
from alloop.strategies.committee import bald
from alloop.strategies.registry import register

__all__ = ["batchbald"]

CHUNK_ELEMENTS = 4_000_000
"""Elements of one (M, chunk, C) block of joint probabilities."""


def _joint_entropy(log_joint: np.ndarray, p: np.ndarray, sampled: bool) -> np.ndarray:
    """H(earlier picks, y_n) for every candidate n, in a scale-safe form.

    With ``q_m`` the mean over samples of configuration m's probability and ``s`` the
    per-candidate predictive mixed with weights ``joint[m] / sum(joint[m])``,
    ``q = q_m s`` and ``H = -sum_m w_m (sum_c s log s + log q_m sum_c s)``, where
    ``w_m = q_m`` (exact) or ``1 / M`` (sampled: importance weights ``1 / q_m``).
    Working from log-probabilities keeps long batches from underflowing.

    Parameters
    ----------
    log_joint : (M, K) float64, log-probability of each configuration under each sample
    p : (K, C, N) float32, clipped probabilities of the candidates
    sampled : whether ``log_joint`` holds sampled configurations

    Returns
    -------
    (N,) float64
    """
    m, k = log_joint.shape
    _, c, n = p.shape
    top = log_joint.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(log_joint - top).sum(axis=1))
    log_qm = lse - np.log(k)
    mix = np.exp(log_joint - lse[:, None]).astype(np.float32)  # (M, K), rows sum to 1
    w = np.full(m, 1.0 / m) if sampled else np.exp(log_qm)
    out = np.empty(n, dtype=np.float64)
    rows = max(1, CHUNK_ELEMENTS // (m * c))
    for a in range(0, n, rows):
        b = min(n, a + rows)
        q = (mix @ p[:, :, a:b].reshape(k, -1)).reshape(m, c, b - a)  # (M, C, chunk)
        qlogq = np.log(np.maximum(q, np.float32(1e-30)))
        qlogq *= q
        ent = qlogq.sum(axis=1)  # (M, chunk): sums over C, contiguous rows
        out[a:b] = -(w @ ent + (w * log_qm) @ q.sum(axis=1))
    return out


def _sample_joint(
    p: np.ndarray, picks: list[int], n_configs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample label configurations of ``picks``: configs (M, t) int, log joint (M, K)."""
    k = p.shape[0]
    per = max(1, n_configs // k)
    owner = np.repeat(np.arange(k), per)  # the sample each configuration is drawn from
    configs = np.empty((owner.size, 0), dtype=np.int64)
    log_joint = np.zeros((owner.size, k), dtype=np.float64)
    for i in picks:
        configs, log_joint = _extend_sampled(p, i, owner, configs, log_joint, rng)
    return configs, log_joint


def _extend_sampled(
    p: np.ndarray,
    i: int,
    owner: np.ndarray,
    configs: np.ndarray,
    log_joint: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Add pick ``i`` to sampled configurations: draw its label from each owner's predictive."""
    pi = p[:, :, i].astype(np.float64)  # (K, C)
    cdf = np.cumsum(pi / pi.sum(axis=1, keepdims=True), axis=1)[owner]
    labels = (rng.random((owner.size, 1)) > cdf).sum(axis=1).clip(max=pi.shape[1] - 1)
    return np.column_stack([configs, labels]), log_joint + np.log(pi[:, labels].T)


@register(
    "batchbald",
    kind="batch",
    needs={"samples"},
    params={"max_configs": 100, "n_configs": 100, "max_pool": 2_048, "eps": 1e-7},
)
def batchbald(
    inputs: StrategyInputs,
    k: int,
    *,
    rng: np.random.Generator,
    max_configs: int = 100,
    n_configs: int = 100,
    max_pool: int = 2_048,
    eps: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy BatchBALD (Kirsch et al., 2019) over sampled probabilities (S, n, C).

    Probabilities are clipped at ``eps`` (as scikit-activeml does). Exact joint while
    ``C ** t <= max_configs``, then ``n_configs`` sampled configurations; only the
    ``max_pool`` highest-BALD candidates compete. The defaults trade estimator variance
    for speed (scikit-activeml samples as many configurations as there are samples);
    raise ``n_configs`` and ``max_configs`` for a tighter estimate.

    Returns
    -------
    indices : (min(k, n),) int64, in pick order
    scores : (min(k, n),) float64, BatchBALD gain of each pick given the earlier ones
    """
    k = check_k(k)
    if min(max_configs, n_configs, max_pool) < 1 or not 0 < eps <= 0.1:
        raise ValueError("max_configs, n_configs and max_pool must be >= 1, eps in (0, 0.1]")
    samples = samples_3d(inputs.samples)
    n = samples.shape[1]
    k = min(k, n)
    if k == 0:
        return empty_selection()
    pool = np.arange(n) if n <= max_pool else np.sort(select_top_k(bald(inputs, rng=rng), max_pool, rng=rng))
    p = np.clip(np.asarray(samples[:, pool], dtype=np.float32), eps, 1.0)
    cond = -(p * np.log(p)).sum(axis=2, dtype=np.float64).mean(axis=0)  # (N,) E_w H(y|w)
    p = np.ascontiguousarray(p.transpose(0, 2, 1))  # (K, C, N): sums over C run on rows
    picks, gains = _greedy(p, cond, min(k, pool.size), max_configs, n_configs, rng)
    return pool[picks], gains


def _greedy(
    p: np.ndarray,
    cond: np.ndarray,
    k: int,
    max_configs: int,
    n_configs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The greedy BatchBALD loop over clipped probabilities ``p`` (K, C, N)."""
    n_samples, c, n = p.shape
    log_joint = np.zeros((1, n_samples), dtype=np.float64)
    sampled, configs, owner = False, None, None
    picks: list[int] = []
    gains = np.empty(k, dtype=np.float64)
    shared = 0.0
    for t in range(k):
        gain = _joint_entropy(log_joint, p, sampled) - cond - shared
        gain[picks] = -np.inf
        pick = rand_argmax(gain, rng)
        picks.append(pick)
        gains[t], shared = gain[pick], shared + cond[pick]
        if not sampled and log_joint.shape[0] * c > max_configs:
            sampled = True
            configs, log_joint = _sample_joint(p, picks, n_configs, rng)
            owner = np.repeat(np.arange(n_samples), max(1, n_configs // n_samples))
        elif sampled:
            configs, log_joint = _extend_sampled(p, pick, owner, configs, log_joint, rng)
        else:  # every configuration times every label of the pick
            log_pi = np.log(p[:, :, pick].astype(np.float64))  # (K, C)
            log_joint = (log_joint[:, None, :] + log_pi.T[None, :, :]).reshape(-1, n_samples)
    return np.asarray(picks, dtype=np.int64), gains
