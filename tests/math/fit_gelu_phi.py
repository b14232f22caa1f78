#!/usr/bin/python3
"""Fits the tables behind the GELUs of bigmodel's vector math (include/bigmodel/kernels/vector_math__common.hpp,
vm_c::phi_tab for the erf form, vm_c::phi_tanh_tab for the tanh form) and checks them in simulated f32 arithmetic.
Not run by the tests; rerun it to change a table.

The GELU is x * Phi(x) with Phi the standard normal CDF. For a = |x| < 6 the kernels read h(a) = Phi(-a) =
erfc(a / sqrt 2) / 2 from 8 polynomials of degree 7, one per interval of width 0.75; interval i covers
[0.75 i, 0.75 (i + 1)] and is evaluated in u = a / 0.75 - i - 0.5 in [-0.5, 0.5] (a vector permute of 8 floats
picks the coefficients by i: one instruction on AVX2 and on AVX-512). Then gelu = x h for x < 0 and x - x h
otherwise; for a >= 6, x h is taken as 0 (Phi(-6) = 1e-9).

The tanh form 0.5 x (1 + tanh(s (x + 0.044715 x^3))), s = sqrt(2 / pi), is the same with h(a) = 1 / (1 + e^(2 s (a +
0.044715 a^3))) (below 1.5e-11 from a = 6).

Each polynomial interpolates h at the 8 Chebyshev nodes of its interval (near-minimax), computed in double from
math.erfc; coefficients are rounded to f32. Prints the C++ table and the maximum error of the f32 evaluation
(Horner with fused multiply-adds) of gelu against the double reference over a dense sweep of [-8, 8].

    /usr/bin/python3 tests/math/fit_gelu_phi.py [--form erf|tanh]
"""
import argparse
import math

import numpy as np

INTERVALS, WIDTH, DEGREE = 8, 0.75, 7


S = math.sqrt(2.0 / math.pi)
FORMS = {
    # name: (h(a) for a >= 0, the GELU in double, the C++ table's name, what h is)
    "erf": (lambda a: 0.5 * math.erfc(a / math.sqrt(2.0)),
            lambda x: 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0))), "phi_tab", "Phi(-a)"),
    "tanh": (lambda a: 1.0 / (1.0 + math.exp(2.0 * S * (a + 0.044715 * a ** 3))),
             lambda x: 0.5 * x * (1.0 + math.tanh(S * (x + 0.044715 * x ** 3))), "phi_tanh_tab",
             "1 / (1 + e^(2 s (a + 0.044715 a^3)))"),
}


def fit(h):
    n = DEGREE + 1
    nodes = np.array([0.5 * math.cos(math.pi * (k + 0.5) / n) for k in range(n)])  # in u, [-0.5, 0.5]
    table = np.zeros((n, INTERVALS))
    for i in range(INTERVALS):
        vals = np.array([h(WIDTH * (i + 0.5 + u)) for u in nodes])
        coef = np.linalg.solve(np.vander(nodes, n, increasing=True), vals)  # monomials in u
        table[:, i] = coef
    return table.astype(np.float32)


def f32(v):
    return np.float32(v)


def gelu_f32(x, table):
    # mirrors vm_gelu_erf: every step rounded to f32, an FMA rounded once
    x = f32(x)
    a = abs(x)
    if not a < f32(WIDTH * INTERVALS):
        return x if x >= 0 else f32(0.0)  # x h taken as 0 (the kernels compute it from a wrapped index, unused)
    t = f32(a * f32(1.0 / WIDTH) - f32(0.5))  # one fma
    i = int(np.rint(t))  # round to nearest even, as t + 1.5 * 2^23
    u = f32(t - f32(i))
    p = table[DEGREE, i]
    for k in range(DEGREE - 1, -1, -1):
        p = f32(np.float64(p) * np.float64(u) + np.float64(table[k, i]))
    xh = f32(x * p)
    return xh if x < 0 else f32(x - xh)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--form", choices=sorted(FORMS), default="erf")
    form = ap.parse_args().form
    h, gelu, name, what = FORMS[form]
    table = fit(h)
    print("  // %s on [0, 6): %d intervals of %g, degree %d in u = a / %g - i - 0.5"
          % (what, INTERVALS, WIDTH, DEGREE, WIDTH))
    print("  // (tests/math/fit_gelu_phi.py --form %s); %s[k][i] is the coefficient of u^k on interval i."
          % (form, name))
    if form == "erf":
        print("  static constexpr float phi_width = %rf, phi_end = %rf;" % (float(WIDTH), float(WIDTH * INTERVALS)))
    print("  static constexpr float %s[%d][%d] = {" % (name, DEGREE + 1, INTERVALS))
    for k in range(DEGREE + 1):
        cells = ["%.9ef" % float(c) for c in table[k]]
        lines = [", ".join(cells[j:j + 4]) for j in range(0, INTERVALS, 4)]
        print("      {" + ",\n       ".join(lines) + "},")
    print("  };")
    xs = np.concatenate([np.linspace(-8, 8, 400001), np.float32(np.linspace(-0.01, 0.01, 20001))])
    worst_abs, at_abs, worst_rel, at_rel = 0.0, 0.0, 0.0, 0.0
    for x in xs:
        x = float(f32(x))
        ref = gelu(x)
        got = float(gelu_f32(x, table))
        e = abs(got - ref)
        if e > worst_abs:
            worst_abs, at_abs = e, x
        if abs(ref) > 1e-4 and e / abs(ref) > worst_rel:
            worst_rel, at_rel = e / abs(ref), x
    print("// max abs error %.3g at x = %g; max rel error (|gelu| > 1e-4) %.3g at x = %g"
          % (worst_abs, at_abs, worst_rel, at_rel))


if __name__ == "__main__":
    main()
