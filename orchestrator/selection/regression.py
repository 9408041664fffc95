"""The numbers behind the learnt estimate: ridge least squares toward given coefficients, R², and
Spearman's rank correlation. Pure and deterministic (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "r_squared", "ranks", "ridge_toward", "spearman"]

Array = npt.NDArray[np.float64]


def ridge_toward(x: Array, y: Array, target: Array, lam: float) -> tuple[float, Array]:
    """Intercept and coefficients minimising |y - b0 - x b|² + lam · Σ_j s_j² (b_j - target_j)².

    s_j is column j's standard deviation, so ``lam`` counts in points: lam = 1 weighs the target like
    one more observation per coefficient. The intercept is not penalised. Columns must not be constant.
    """
    p = x.shape[1]
    if p == 0:
        return float(y.mean()), np.zeros(0)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / scale
    a = z.T @ z + lam * np.eye(p)
    beta = np.linalg.solve(a, z.T @ (y - y.mean()) + lam * target * scale)
    b = beta / scale
    return float(y.mean() - mean @ b), b


def r_squared(x: Array, col: Array) -> float:
    """Share of ``col``'s variance explained by the columns of ``x`` plus an intercept."""
    centred = col - col.mean()
    total = float(centred @ centred)
    if total == 0.0:
        return 1.0
    design = np.column_stack([np.ones(len(col)), x])
    coef, *_ = np.linalg.lstsq(design, col, rcond=None)
    resid = col - design @ coef
    return max(0.0, 1.0 - float(resid @ resid) / total)


def ranks(values: Sequence[float]) -> Array:
    """1-based ranks; ties get the mean of the ranks they span."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    out = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        out[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson correlation of the ranks); None below 3 points or when either side is
    constant (the correlation is undefined)."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra @ ra) * (rb @ rb)))
    return None if denom == 0.0 else float(ra @ rb) / denom
