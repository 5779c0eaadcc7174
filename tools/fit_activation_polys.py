"""The polynomial coefficients of csrc/nn/activation_simd.h: near-minimax fits (Lawson's
iteratively reweighted least squares on a dense grid, relative error weights) of
  expm1(r) = r + r^2 P(r), |r| <= ln2/2   (P of degree 3 and 4: the kernels use degree 4)
  2 atanh(t) = t (2 + t^2 Q(t^2)), t in [0, 1/3] (Q of degree 2..4: the kernels use degree 3)
printed as float32 values with each fit's largest relative error.
  /usr/bin/python3 tools/fit_activation_polys.py      (NumPy: Debian's python3-numpy)
"""
import numpy as np
def lawson(xs, f_target, basis, weight, iters=200):
    # minimize max |weight*(sum c_i basis_i - f)| by Lawson's iteratively reweighted LS
    A = np.stack([b(xs) for b in basis], 1) * weight[:, None]
    y = f_target * weight
    w = np.ones(len(xs)) / len(xs)
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        e = np.abs(A @ c - y)
        w = w * e; w /= w.sum()
    return c, np.max(np.abs(A @ c - y))
ln2 = np.log(2.0)
# expm1(r) = r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4), |r| <= ln2/2
r = np.linspace(-ln2/2, ln2/2, 20001); r = r[r != 0]
for deg in (4, 5):
    basis = [lambda x, k=k: x**(k+2) for k in range(deg)]
    c, err = lawson(r, np.expm1(r) - r, basis, 1/np.abs(np.expm1(r)))
    print("expm1 P deg", deg-1, "rel err", err, ["%.9e" % np.float32(v) for v in c])
# 2 atanh(t) = t * (2 + t2 * Q(t2)), t in [0, 1/3]
t = np.linspace(1e-6, 1/3, 20001)
for deg in (3, 4, 5):
    basis = [lambda x, k=k: x * (x*x)**(k+1) for k in range(deg)]
    c, err = lawson(t, 2*np.arctanh(t) - 2*t, basis, 1/(2*np.arctanh(t)))
    print("atanh Q deg", deg-1, "rel err", err, ["%.9e" % np.float32(v) for v in c])
