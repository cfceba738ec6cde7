"""REML for variance-component linear mixed models, with Satterthwaite and Kenward-Roger tests.

Model: ``y = X beta + sum_k Z_k u_k + e`` with independent ``u_k ~ N(0, sigma_k^2 I)`` (one
random intercept per level of grouping k, e.g. participant, participant:method, clip) and
``e ~ N(0, sigma^2 I)``. This is the class of ``lme4::lmer`` models made of ``(1|g)`` terms.

Computation follows lme4's penalised least squares (Bates et al. 2015, J. Stat. Softw.
67(1), sections 3.2-3.4): relative standard deviations ``theta_k = sigma_k / sigma``,
``Lambda = diag(theta)``, and for each theta one Cholesky factorisation of::

    M = [[Lambda Z'Z Lambda + I, Lambda Z'X],
         [X'Z Lambda,            X'X       ]]

gives log|L_theta|^2, log|R_X|^2 and the penalised residual sum of squares r^2; the
profiled REML deviance is ``log|L|^2 + log|R_X|^2 + (n-p)(1 + log(2 pi r^2/(n-p)))``. All
cross-products are formed once, so one evaluation costs one dense (q+p)^2 factorisation.
The gradient is analytic (``d dev / d theta_k = 2 theta_k [tr(Z_k'P Z_k) - |Z_k'P y|^2]``
with ``sigma^2 P = I - W M^-1 W'``, ``W = [Z Lambda, X]``).

The fixed-effect covariance is ``sigma^2 (R_X'R_X)^-1 = (X'V^-1 X)^-1`` (as ``vcov(lmer)``).

Satterthwaite tests are lmerTest's (Kuznetsova et al. 2017, J. Stat. Softw. 82(13);
lmerTest 3.1 ``contestMD``/``contest1D``): the variance parameters (theta, sigma) get the
covariance ``A = 2 H^-1`` with ``H`` the Hessian of the unprofiled REML deviance, the
Jacobian of ``cov(beta)`` w.r.t. them is taken by central differences, a multi-df F uses
the eigen-decomposition of ``L cov(beta) L'`` and combines the per-direction df as
``2E/(E-q)``, ``E = sum nu_m/(nu_m-2)``. Kenward-Roger is pbkrtest's ``vcovAdj`` +
``KRmodcomp`` (Kenward & Roger 1997; Halekoh & Hojsgaard 2014, J. Stat. Softw. 59(9)).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, stats


@dataclass
class VCBlock:
    """One random intercept term: ``codes`` (n,) integer level index per row, 0..n_levels-1."""

    name: str
    codes: np.ndarray
    n_levels: int


@dataclass
class _Stats:
    """Cross-products, split into a part nested in one grouping factor and the rest.

    Random-effect columns of components nested in the "outer" grouping factor (e.g.
    participant, participant:method, participant:emotion) form one small diagonal block per
    participant in Z'Z; they are stored as a padded stack ``(G, s, s)`` and factorised in a
    batch. The crossed columns (e.g. clip) and X form the dense remainder ``(r, r)``.
    """

    n: int
    p: int
    q: int
    sizes: np.ndarray
    block_of: np.ndarray   # (q,) which theta owns each random-effect column
    idx: np.ndarray        # (G, s) nested column indices per outer level, -1 = padding
    crossed: np.ndarray    # (qc,) crossed column indices
    Ann: np.ndarray        # (G, s, s) Z'Z within each outer level
    Bn: np.ndarray         # (G, s, qc+p) [Z_n'Z_c, Z_n'X]
    C: np.ndarray          # (qc+p, qc+p) [[Z_c'Z_c, Z_c'X], [X'Z_c, X'X]]
    rn: np.ndarray         # (G, s) Z_n'y
    rc: np.ndarray         # (qc+p,) [Z_c'y, X'y]
    yty: float


def _nesting(blocks: list[VCBlock]) -> tuple[int, list[int]]:
    """Pick the outer factor that the most random-effect columns nest in."""
    best = (-1, 0, [])
    for o, ob in enumerate(blocks):
        nested = []
        for k, b in enumerate(blocks):
            # b nests in ob if every level of b meets exactly one level of ob
            pairs = np.unique(np.c_[b.codes, ob.codes], axis=0)
            if len(pairs) == b.n_levels:
                nested.append(k)
        cols = sum(blocks[k].n_levels for k in nested)
        if cols > best[1]:
            best = (o, cols, nested)
    return best[0], best[2]


def _suffstats(y: np.ndarray, X: np.ndarray, blocks: list[VCBlock]) -> _Stats:
    from scipy import sparse

    n, p = X.shape
    cols, sizes, owner = [], [], []
    for k, b in enumerate(blocks):
        cols.append(sparse.csr_matrix((np.ones(n), (np.arange(n), b.codes)),
                                      shape=(n, b.n_levels)))
        sizes.append(b.n_levels)
        owner.append(np.full(b.n_levels, k))
    Z = sparse.hstack(cols).tocsc() if cols else sparse.csc_matrix((n, 0))
    q = Z.shape[1]
    block_of = np.concatenate(owner) if owner else np.zeros(0, int)
    ZtZ = (Z.T @ Z).toarray()
    ZtX = np.asarray(Z.T @ X)
    Zty = np.asarray(Z.T @ y).ravel()
    starts = np.r_[0, np.cumsum(sizes)].astype(int)
    if blocks:
        outer, nested = _nesting(blocks)
        ob = blocks[outer]
        group_of = np.full(q, -1)
        for k in nested:
            b = blocks[k]
            lv = np.zeros(b.n_levels, int)
            lv[b.codes] = ob.codes
            group_of[starts[k]:starts[k + 1]] = lv
        G = ob.n_levels
        members = [np.flatnonzero(group_of == g) for g in range(G)]
        s = max(len(m) for m in members)
        idx = np.full((G, s), -1)
        for g, m in enumerate(members):
            idx[g, :len(m)] = m
        crossed = np.flatnonzero(group_of < 0)
    else:
        idx = np.zeros((0, 0), int)
        crossed = np.zeros(0, int)
    valid = idx >= 0
    safe = np.where(valid, idx, 0)
    Ann = ZtZ[safe[:, :, None], safe[:, None, :]] * (valid[:, :, None] & valid[:, None, :])
    Bfull = np.hstack([ZtZ[:, crossed], ZtX])           # (q, qc+p)
    Bn = Bfull[safe] * valid[:, :, None]
    qc = len(crossed)
    C = np.zeros((qc + p, qc + p))
    C[:qc, :qc] = ZtZ[np.ix_(crossed, crossed)]
    C[:qc, qc:] = ZtX[crossed]
    C[qc:, :qc] = ZtX[crossed].T
    C[qc:, qc:] = X.T @ X
    rn = Zty[safe] * valid
    rc = np.r_[Zty[crossed], X.T @ y]
    return _Stats(n, p, q, np.asarray(sizes, int), block_of, idx, crossed, Ann, Bn, C,
                  rn, rc, float(y @ y))


class _Eval:
    """Penalised least squares at one theta (all the pieces the deviance needs)."""

    def __init__(self, S: _Stats, theta: np.ndarray):
        theta = np.asarray(theta, float)
        self.S, self.theta = S, theta
        valid = S.idx >= 0
        qc = len(S.crossed)
        lam_n = np.where(valid, theta[S.block_of[np.where(valid, S.idx, 0)]] if S.q else 0, 0.0)
        lam_c = theta[S.block_of[S.crossed]] if qc else np.zeros(0)
        rs = np.r_[lam_c, np.ones(S.p)]
        G, s = S.idx.shape
        A = lam_n[:, :, None] * S.Ann * lam_n[:, None, :]
        A[:, np.arange(s), np.arange(s)] += 1.0
        B = lam_n[:, :, None] * S.Bn * rs[None, None, :]
        Cm = rs[:, None] * S.C * rs[None, :]
        Cm[np.arange(qc), np.arange(qc)] += 1.0
        self.Lg = np.linalg.cholesky(A) if G else A
        self.W = np.linalg.solve(self.Lg, B) if G else B
        Sch = Cm - np.einsum("gsi,gsj->ij", self.W, self.W)
        self.LS = np.linalg.cholesky(Sch)
        rn = lam_n * S.rn
        rc = rs * S.rc
        zg = np.linalg.solve(self.Lg, rn[:, :, None])[:, :, 0] if G else rn
        zc = linalg.solve_triangular(self.LS, rc - np.einsum("gsi,gs->i", self.W, zg),
                                     lower=True, check_finite=False)
        xc = linalg.solve_triangular(self.LS, zc, lower=True, trans="T", check_finite=False)
        xg = (np.linalg.solve(np.swapaxes(self.Lg, 1, 2),
                              (zg - np.einsum("gsi,i->gs", self.W, xc))[:, :, None])[:, :, 0]
              if G else zg)
        self.r2 = max(S.yty - float(xg.ravel() @ rn.ravel() + xc @ rc), 1e-300)
        dg = np.log(np.diagonal(self.Lg, axis1=1, axis2=2)).sum() if G else 0.0
        dS = np.log(np.diag(self.LS))
        self.ld_L = 2.0 * float(dg + dS[:qc].sum())
        self.ld_RX = 2.0 * float(dS[qc:].sum())
        u = np.zeros(S.q)
        u[S.idx[valid]] = xg[valid]
        u[S.crossed] = xc[:qc]
        self._u, self._beta = u, xc[qc:]
        self.lam = theta[S.block_of] if S.q else np.zeros(0)

    def deviance(self, sigma: float | None = None) -> float:
        """REML deviance; profiled over sigma when ``sigma`` is None."""
        S = self.S
        dfr = S.n - S.p
        if sigma is None:
            return self.ld_L + self.ld_RX + dfr * (1.0 + np.log(2 * np.pi * self.r2 / dfr))
        s2 = sigma * sigma
        return self.ld_L + self.ld_RX + self.r2 / s2 + dfr * np.log(2 * np.pi * s2)

    def _diag_minv(self) -> np.ndarray:
        """Diagonal of M^-1 over the random-effect columns (original order)."""
        S = self.S
        qc = len(S.crossed)
        # numpy's inverse, not scipy's triangular solve: scipy's multi-threaded trsm is
        # ~10x slower on these small matrices when the cores are busy
        LSi = np.linalg.inv(self.LS)
        out = np.zeros(S.q)
        out[S.crossed] = (LSi ** 2).sum(axis=0)[:qc]
        if len(S.idx):
            s = S.idx.shape[1]
            Lgi = np.linalg.solve(self.Lg, np.broadcast_to(np.eye(s), self.Lg.shape))
            T = np.einsum("gji,gjr->gir", Lgi, self.W)          # L_g^-T W_g
            U = np.einsum("gir,kr->gik", T, LSi)                # T LS^-T
            d = (Lgi ** 2).sum(axis=1) + (U ** 2).sum(axis=2)
            valid = S.idx >= 0
            out[S.idx[valid]] = d[valid]
        return out

    def grad(self, theta: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Gradient of the deviance w.r.t. theta (and sigma, when it is given).

        With spherical random effects u (b = Lambda u), theta_k^2 sigma^2 tr(Z_k'PZ_k)
        = n_k - tr_k(M^-1) and theta_k Z_k'P y = u_k / sigma^2, so
        d dev / d theta_k = (2 / theta_k) (n_k - tr_k(M^-1) - |u_k|^2 / sigma^2).
        """
        S = self.S
        s2 = self.r2 / (S.n - S.p) if sigma is None else sigma * sigma
        dm = self._diag_minv()
        g = np.zeros(len(theta))
        for k in range(len(theta)):
            if theta[k] == 0:
                continue
            m = S.block_of == k
            g[k] = 2.0 / theta[k] * (m.sum() - dm[m].sum() - (self._u[m] @ self._u[m]) / s2)
        if sigma is None:
            return g
        gs = (2.0 / sigma) * ((S.n - S.p) - self.r2 / s2)
        return np.r_[g, gs]

    def cov_beta_unscaled(self) -> np.ndarray:
        """(R_X'R_X)^-1, i.e. cov(beta) / sigma^2."""
        qc = len(self.S.crossed)
        RXt = self.LS[qc:, qc:]
        Li = np.linalg.inv(RXt)
        return Li.T @ Li

    def beta(self) -> np.ndarray:
        return self._beta

    def u(self) -> np.ndarray:
        return self._u


@dataclass
class REMLFit:
    """A fitted variance-component model.

    ``beta`` (p,), ``cov_beta`` (p, p) = (X'V^-1 X)^-1, ``theta`` relative SDs (k,),
    ``sigma`` residual SD, ``names`` component names (k,), ``deviance`` REML criterion
    (-2 log restricted likelihood, as ``lme4::REMLcrit``), ``blups`` per component.
    """

    beta: np.ndarray
    cov_beta: np.ndarray
    theta: np.ndarray
    sigma: float
    names: list[str]
    deviance: float
    converged: bool
    n: int
    blups: dict = field(repr=False, default_factory=dict)
    _S: _Stats = field(repr=False, default=None)
    _X: np.ndarray = field(repr=False, default=None)
    _blocks: list = field(repr=False, default_factory=list)
    _satt: tuple | None = field(repr=False, default=None)
    _kr: tuple | None = field(repr=False, default=None)

    @property
    def variances(self) -> dict[str, float]:
        """Component name -> variance (sigma_k^2), plus ``residual``."""
        out = {n: float((t * self.sigma) ** 2) for n, t in zip(self.names, self.theta)}
        out["residual"] = float(self.sigma ** 2)
        return out

    # ---------------------------------------------------------------- Satterthwaite
    def _satterthwaite_parts(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """(A, Jac): covariance of (theta, sigma) and d cov(beta) / d varpar_i."""
        if self._satt is not None:
            return self._satt
        S = self._S
        vp = np.r_[self.theta, self.sigma]
        k = len(vp)

        def grad(v):
            return _Eval(S, v[:-1]).grad(v[:-1], v[-1])

        H = np.zeros((k, k))
        steps = 1e-4 * np.maximum(np.abs(vp), 0.1)
        for i in range(k):
            e = np.zeros(k)
            e[i] = steps[i]
            H[:, i] = (grad(vp + e) - grad(vp - e)) / (2 * steps[i])
        H = (H + H.T) / 2
        A = 2.0 * np.linalg.pinv(H)
        jac = []
        for i in range(k - 1):
            e = np.zeros(k - 1)
            h = steps[i]
            e[i] = h
            cp = _Eval(S, self.theta + e).cov_beta_unscaled()
            cm = _Eval(S, self.theta - e).cov_beta_unscaled()
            # Richardson extrapolation of the central difference (error O(h^4))
            e2 = e / 2
            cp2 = _Eval(S, self.theta + e2).cov_beta_unscaled()
            cm2 = _Eval(S, self.theta - e2).cov_beta_unscaled()
            d1 = (cp - cm) / (2 * h)
            d2 = (cp2 - cm2) / h
            jac.append(self.sigma ** 2 * (4 * d2 - d1) / 3)
        jac.append(2.0 * self.cov_beta / self.sigma)
        self._satt = (A, jac)
        return self._satt

    def contrast_df(self, l: np.ndarray) -> float:
        """Satterthwaite df of one contrast ``l'beta`` (lmerTest ``contest1D``)."""
        A, jac = self._satterthwaite_parts()
        v = float(l @ self.cov_beta @ l)
        g = np.array([float(l @ J @ l) for J in jac])
        return float(2 * v * v / (g @ A @ g))

    def ftest(self, L: np.ndarray, ddf: str = "Satterthwaite") -> tuple[float, int, float, float]:
        """F test of ``L beta = 0`` -> (F, numerator df, denominator df, p)."""
        L = np.atleast_2d(np.asarray(L, float))
        if ddf == "Kenward-Roger":
            return self._kr_ftest(L)
        if ddf != "Satterthwaite":
            raise ValueError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', not {ddf!r}")
        A, jac = self._satterthwaite_parts()
        VL = L @ self.cov_beta @ L.T
        d, P = np.linalg.eigh(VL)
        order = np.argsort(d)[::-1]
        d, P = d[order], P[:, order]
        tol = max(np.sqrt(np.finfo(float).eps) * d[0], 0)
        pos = d > tol
        q = int(pos.sum())
        PtL = (P.T @ L)[:q]
        t2 = (PtL @ self.beta) ** 2 / d[:q]
        F = float(t2.sum() / q)
        nu = []
        for m in range(q):
            g = np.array([float(PtL[m] @ J @ PtL[m]) for J in jac])
            nu.append(2 * d[m] ** 2 / float(g @ A @ g))
        nu = np.asarray(nu)
        if q == 1:
            df2 = float(nu[0])
        elif np.all(np.abs(np.diff(nu)) < 1e-8):
            df2 = float(nu.mean())
        elif np.any(nu <= 2):
            df2 = 2.0
        else:
            E = float(np.sum(nu / (nu - 2)))
            df2 = 2 * E / (E - q)
        return F, q, df2, float(stats.f.sf(F, q, df2))

    # ---------------------------------------------------------------- Kenward-Roger
    def _kr_parts(self):
        """pbkrtest vcovAdj: (Phi, PhiA, P list, W) on the variance scale."""
        if self._kr is not None:
            return self._kr
        X = self._X
        n = self.n
        var = [(t * self.sigma) ** 2 for t in self.theta]
        G = []
        Sigma = np.eye(n) * self.sigma ** 2
        for b, v in zip(self._blocks, var):
            Z = np.zeros((n, b.n_levels))
            Z[np.arange(n), b.codes] = 1.0
            Gk = Z @ Z.T
            G.append(Gk)
            Sigma += v * Gk
        G.append(np.eye(n))
        Si = np.linalg.inv(Sigma)
        Si = (Si + Si.T) / 2
        TT = Si @ X
        Phi = np.linalg.inv(X.T @ TT)
        H = [Gk @ Si for Gk in G]
        O = [h @ X for h in H]
        m = len(G)
        P = [-(O[r].T @ TT) for r in range(m)]
        P = [(a + a.T) / 2 for a in P]
        Q = {}
        for r in range(m):
            for s in range(r, m):
                Q[r, s] = O[r].T @ Si @ O[s]
        K = np.zeros((m, m))
        for r in range(m):
            for s in range(r, m):
                K[r, s] = K[s, r] = float(np.sum(H[r].T * H[s]))
        IE2 = np.zeros((m, m))
        for i in range(m):
            PhiPi = Phi @ P[i]
            for j in range(i, m):
                IE2[i, j] = IE2[j, i] = (K[i, j] - 2 * np.sum(Phi * Q[i, j])
                                         + np.sum(PhiPi * (P[j] @ Phi)))
        ev = np.abs(np.linalg.eigvalsh(IE2))
        W = 2 * (np.linalg.inv(IE2) if ev.min() > 1e-10 else np.linalg.pinv(IE2))
        U = np.zeros_like(Phi)
        for i in range(m - 1):
            for j in range(i + 1, m):
                U += W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j])
        U = U + U.T
        for i in range(m):
            U += W[i, i] * (Q[i, i] - P[i] @ Phi @ P[i])
        PhiA = Phi + 2 * Phi @ U @ Phi
        self._kr = (Phi, PhiA, P, W)
        return self._kr

    @property
    def cov_beta_kr(self) -> np.ndarray:
        """Kenward-Roger adjusted covariance of beta (pbkrtest ``vcovAdj``)."""
        return self._kr_parts()[1]

    def _kr_ftest(self, L: np.ndarray) -> tuple[float, int, float, float]:
        Phi, PhiA, P, W = self._kr_parts()
        q = int(np.linalg.matrix_rank(L))
        Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
        TP = Theta @ Phi
        A1 = A2 = 0.0
        m = len(P)
        for i in range(m):
            ui = TP @ P[i] @ Phi
            for j in range(i, m):
                e = 1 if i == j else 2
                uj = TP @ P[j] @ Phi
                A1 += e * W[i, j] * np.trace(ui) * np.trace(uj)
                A2 += e * W[i, j] * np.sum(ui * uj.T)
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0 = 1 + c1 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        V1 = 1 - c2 * B
        V2 = 1 - c3 * B
        ratio = (1 - A2 / q) / V1 if V1 != 0 else 0.0
        rho = ratio ** 2 * V0 / V2 / q
        df2 = 4 + (q + 2) / (q * rho - 1)
        scale = 1.0 if abs(df2 - 4) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
        Lb = L @ self.beta
        wald = float(Lb @ np.linalg.solve(L @ PhiA @ L.T, Lb))
        F = scale * wald / q
        return F, q, float(df2), float(stats.f.sf(F, q, df2))

    def contrast_df_kr(self, l: np.ndarray) -> float:
        """Kenward-Roger df of one contrast (pbkrtest ``Lb_ddf``)."""
        return self._kr_ftest(np.atleast_2d(l))[2]


def fit_reml(y: np.ndarray, X: np.ndarray, blocks: list[VCBlock],
             theta0: np.ndarray | None = None) -> REMLFit:
    """REML fit of ``y ~ X + (1|block_1) + ... ``. ``X`` (n, p) must have full column rank."""
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    n, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise np.linalg.LinAlgError("fixed-effect design matrix is rank deficient")
    S = _suffstats(y, X, blocks)
    k = len(blocks)
    converged = True
    if k:
        cache: dict = {}

        def ev(t):
            key = t.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = _Eval(S, t)
            return cache[key]

        def f(t):
            return ev(t).deviance()

        def g(t):
            return ev(t).grad(t)

        start = np.ones(k) if theta0 is None else np.maximum(np.asarray(theta0, float), 0.05)
        # theta enters the deviance only through Lambda Z'Z Lambda (symmetric in the sign
        # of each theta_k), so we optimise without bounds and take |theta|: a bounded
        # quasi-Newton step can land on theta = 0, a stationary point it cannot leave.
        res = optimize.minimize(f, start, jac=g, method="BFGS",
                                options={"gtol": 1e-5, "maxiter": 1000})
        theta = np.abs(np.asarray(res.x, float))
        converged = bool(res.success) or float(np.max(np.abs(g(theta)))) < 1e-4
    else:
        theta = np.zeros(0)
    E = _Eval(S, theta)
    sigma2 = E.r2 / (n - p)
    cov = sigma2 * E.cov_beta_unscaled()
    u = E.u() * E.lam
    blups, off = {}, 0
    for b in blocks:
        blups[b.name] = u[off:off + b.n_levels]
        off += b.n_levels
    return REMLFit(E.beta(), cov, theta, float(np.sqrt(sigma2)), [b.name for b in blocks],
                   float(E.deviance()), converged, n, blups, S, X, list(blocks))
