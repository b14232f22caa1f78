// kernels/vector_math.hpp: every compiled ISA the CPU supports, in turn, against double-precision std::
// references -- dense sweeps over [-100, 100], special values (+-0, +-inf, NaN, denormals, the overflow and
// underflow edges of e^x), every length 0..70 at unaligned offsets, in place; Softmax (sums, masks, scale, the
// all -inf row), LayerNorm (closed forms, broadcast scale / bias, the fused residual add).

#include <catch2/catch.hpp>

#include <bigmodel/kernels/vector_math.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {
namespace k = bigmodel::kernels;
namespace vm = bigmodel::kernels::vmath;
using table = bigmodel::kernels::detail::vm_table;

#if BIGMODEL_KERNELS_TEST_SMALL
constexpr int sweep_points = 20001;
#else
constexpr int sweep_points = 400001;
#endif
constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float qnan = std::numeric_limits<float>::quiet_NaN();

// The ISAs to test: compiled and supported; the others are reported once and skipped.
std::vector<k::isa> runnable_isas() {
  std::vector<k::isa> out;
  for (k::isa i : k::compiled_isas()) {
    if (k::is_supported(i)) out.push_back(i);
    else WARN("skipping " << k::isa_name(i) << ": this CPU does not support it");
  }
  return out;
}

std::vector<float> sweep() {
  std::vector<float> x;
  for (int i = 0; i < sweep_points; ++i) x.push_back(-100.0f + 200.0f * static_cast<float>(i) / (sweep_points - 1));
  for (int i = -2000; i <= 2000; ++i) x.push_back(static_cast<float>(i) * 1e-3f);  // dense near 0
  for (float v : {0.0f, -0.0f, inf, -inf, qnan, -qnan, 1e-40f, -1e-40f, 1.4e-45f, 1.17549435e-38f, 88.72283f, 88.7229f,
                  88.73f, 89.0f, 100.0f, 1e30f, -1e30f, -87.33654f, -87.34f, -103.0f, -103.97f, -103.98f, -104.0f,
                  -105.0f, -150.0f, 0.625f, -0.625f, 0.6249999f, 1.0f, -1.0f, 1.4142135f, -1.4142135f, 5.6568542f,
                  -5.6568542f, 3.4e38f, -3.4e38f})
    x.push_back(v);
  // the erf GELU's table: both sides of every interval's ends (multiples of 0.75 up to 6), either sign
  for (int i = 0; i <= 8; ++i)
    for (float s : {1.0f, -1.0f}) {
      const float b = s * 0.75f * static_cast<float>(i);
      x.insert(x.end(), {b, std::nextafter(b, -inf), std::nextafter(b, inf)});
    }
  return x;
}

struct err_stats {
  double max_abs = 0, max_rel = 0;
  float at_abs = 0, at_rel = 0;
  void add(float x, double got, double ref, bool relative) {
    const double a = std::fabs(got - ref);
    if (a > max_abs) max_abs = a, at_abs = x;
    if (relative && ref != 0) {
      const double r = a / std::fabs(ref);
      if (r > max_rel) max_rel = r, at_rel = x;
    }
  }
};

bool same(float a, double b) {  // NaN matches NaN, inf matches inf of the same sign
  if (std::isnan(b)) return std::isnan(a);
  if (std::isinf(b)) return a == static_cast<float>(b);
  return false;
}

// At -inf the limit 0 (the formulas as written give -inf * 0 = NaN; the table forms return the limit).
double gelu_erf_ref(double x) { return std::isinf(x) && x < 0 ? 0.0 : 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh_ref(double x) {
  if (std::isinf(x) && x < 0) return 0.0;
  return 0.5 * x * (1.0 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}

using row_fn = void (*)(const float*, float*, std::size_t) noexcept;
struct unary_case {
  const char* name;
  row_fn table::*fn;
  double (*ref)(double);
  double abs_tol, rel_tol;  // error allowed: abs_tol + rel_tol * |ref|
  bool relative;            // report the relative error
};

const unary_case unary_cases[] = {
    {"exp", &table::exp, [](double x) { return std::exp(x); }, 1.5e-45, 3e-7, true},
    {"erf", &table::erf, [](double x) { return std::erf(x); }, 3e-7, 0, false},
    {"tanh", &table::tanh, [](double x) { return std::tanh(x); }, 1e-45, 4e-7, true},
    // below x = -88.7, e^-x overflows and the result is 0 instead of a denormal (as 1 / (1 + std::exp(-x)) in f32)
    {"sigmoid", &table::sigmoid, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, 1.2e-38, 4e-7, true},
    // the GELUs' error is absolute (their tables' h, < 2.4e-7) plus the rounding of x - x h (1/2 ulp of the result)
    {"gelu_erf", &table::gelu_erf, gelu_erf_ref, 2.5e-7, 6e-8, false},
    {"gelu_tanh", &table::gelu_tanh, gelu_tanh_ref, 2.5e-7, 6e-8, false},
};

}  // namespace

TEST_CASE("vector math: elementwise functions against double references", "[math]") {
  const std::vector<float> x = sweep();
  std::vector<float> y(x.size());
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    for (const unary_case& c : unary_cases) {
      (t.*(c.fn))(x.data(), y.data(), x.size());
      err_stats e;
      std::size_t bad = 0;
      for (std::size_t j = 0; j < x.size(); ++j) {
        const double ref = c.ref(static_cast<double>(x[j]));
        if (std::isnan(ref) || std::isinf(ref) || std::fabs(ref) > std::numeric_limits<float>::max()) {
          const double want = std::fabs(ref) > std::numeric_limits<float>::max() && !std::isnan(ref) ? std::copysign(INFINITY, ref) : ref;
          if (!same(y[j], want)) {
            if (bad++ < 5) FAIL_CHECK(c.name << " on " << k::isa_name(i) << ": f(" << x[j] << ") = " << y[j] << ", want " << want);
          }
          continue;
        }
        e.add(x[j], y[j], ref, c.relative && std::fabs(ref) >= std::numeric_limits<float>::min());
        if (!(std::fabs(y[j] - ref) <= c.abs_tol + c.rel_tol * std::fabs(ref))) {
          if (bad++ < 5) FAIL_CHECK(c.name << " on " << k::isa_name(i) << ": f(" << x[j] << ") = " << y[j] << ", want " << ref);
        }
      }
      std::printf("vector math %-10s %-10s max abs error %.3g (at %g), max rel error %.3g (at %g)\n", c.name,
                  std::string(k::isa_name(i)).c_str(), e.max_abs, static_cast<double>(e.at_abs), e.max_rel,
                  static_cast<double>(e.at_rel));
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("vector math: exact special values", "[math]") {
  for (k::isa i : runnable_isas()) {
    INFO(k::isa_name(i));
    const table& t = vm::kernels_for(i);
    auto f = [](row_fn fn, float v) {
      float out = 0;
      fn(&v, &out, 1);
      return out;
    };
    CHECK(f(t.exp, 0.0f) == 1.0f);
    CHECK(f(t.exp, -0.0f) == 1.0f);
    CHECK(f(t.exp, -inf) == 0.0f);
    CHECK(f(t.exp, -104.0f) == 0.0f);
    CHECK(f(t.exp, -1000.0f) == 0.0f);
    CHECK(f(t.exp, inf) == inf);
    CHECK(f(t.exp, 88.73f) == inf);
    CHECK(f(t.exp, 1e30f) == inf);
    CHECK(std::isnan(f(t.exp, qnan)));
    CHECK(f(t.exp, -100.0f) > 0.0f);  // a denormal, not flushed
    CHECK(f(t.erf, inf) == 1.0f);
    CHECK(f(t.erf, -inf) == -1.0f);
    CHECK(std::signbit(f(t.erf, -0.0f)));
    CHECK(f(t.tanh, inf) == 1.0f);
    CHECK(f(t.tanh, -inf) == -1.0f);
    CHECK(std::signbit(f(t.tanh, -0.0f)));
    CHECK(f(t.tanh, 1e-40f) == 1e-40f);
    CHECK(f(t.sigmoid, -inf) == 0.0f);
    CHECK(f(t.sigmoid, inf) == 1.0f);
    CHECK(f(t.gelu_erf, inf) == inf);
    CHECK(f(t.gelu_tanh, inf) == inf);
    CHECK(f(t.gelu_erf, -30.0f) == 0.0f);
    CHECK(f(t.gelu_erf, -inf) == 0.0f);  // the limit (x Phi(x) -> 0)
    CHECK(f(t.gelu_erf, 6.0f) == 6.0f);
    CHECK(f(t.gelu_tanh, -30.0f) == 0.0f);
    CHECK(f(t.gelu_tanh, -inf) == 0.0f);
    CHECK(f(t.gelu_tanh, 6.0f) == 6.0f);
    for (row_fn fn : {t.erf, t.tanh, t.sigmoid, t.gelu_erf, t.gelu_tanh}) CHECK(std::isnan(f(fn, qnan)));
  }
}

TEST_CASE("vector math: every length, unaligned, in place; the same values as the long sweep", "[math]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-12.0f, 12.0f);
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    for (const unary_case& c : unary_cases) {
      const row_fn fn = t.*(c.fn);
      for (std::size_t n = 0; n <= 70; ++n)
        for (std::size_t off = 0; off < 4; ++off) {
          INFO(c.name << " on " << k::isa_name(i) << ", n = " << n << ", offset " << off);
          std::vector<float> buf(n + 8, 0.0f), out(n + 8, -7.0f), one(1);
          for (std::size_t j = 0; j < n; ++j) buf[off + j] = dist(rng);
          fn(buf.data() + off, out.data() + off, n);
          bool ok = true;
          for (std::size_t j = 0; j < off; ++j) ok = ok && out[j] == -7.0f;
          for (std::size_t j = off + n; j < out.size(); ++j) ok = ok && out[j] == -7.0f;
          CHECK(ok);  // nothing written outside [off, off + n)
          for (std::size_t j = 0; j < n; ++j) {  // lane-independent: bit-identical to one element at a time
            fn(&buf[off + j], one.data(), 1);
            if (std::memcmp(&one[0], &out[off + j], 4) != 0) {
              FAIL_CHECK("element " << j << ": " << out[off + j] << " vs " << one[0]);
              break;
            }
          }
          std::vector<float> in_place(buf);
          fn(in_place.data() + off, in_place.data() + off, n);
          CHECK(std::memcmp(in_place.data() + off, out.data() + off, n * 4) == 0);
        }
    }
    // gelu(x + bias), both forms
    for (std::size_t n = 0; n <= 70; ++n) {
      std::vector<float> x(n + 1), b(n + 1), s(n + 1), want(n + 1), got(n + 1);
      for (std::size_t j = 0; j < n; ++j) x[j + 1] = dist(rng), b[j + 1] = dist(rng), s[j + 1] = x[j + 1] + b[j + 1];
      for (bool tanh_form : {false, true}) {
        (tanh_form ? t.gelu_tanh : t.gelu_erf)(s.data() + 1, want.data() + 1, n);
        t.gelu_bias(x.data() + 1, b.data() + 1, got.data() + 1, n, tanh_form);
        CHECK(std::memcmp(want.data() + 1, got.data() + 1, n * 4) == 0);
      }
    }
  }
}

TEST_CASE("vector math: the public functions follow force_isa", "[math]") {
  std::vector<float> x(37), a(37), b(37);
  for (std::size_t j = 0; j < x.size(); ++j) x[j] = 0.37f * static_cast<float>(j) - 6.0f;
  for (k::isa i : runnable_isas()) {
    REQUIRE(k::force_isa(i) == k::status::ok);
    vm::kernels_for(i).gelu_erf(x.data(), a.data(), x.size());
    vm::gelu_erf(x.data(), b.data(), x.size());
    CHECK(a == b);
    vm::kernels_for(i).exp(x.data(), a.data(), x.size());
    vm::exp(x.data(), b.data(), x.size());
    CHECK(a == b);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}

TEST_CASE("vector math: softmax rows", "[math]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    double worst = 0;
    for (std::size_t n = 1; n <= 70; ++n)
      for (std::size_t off = 0; off < 3; ++off) {
        INFO(k::isa_name(i) << ", n = " << n << ", offset " << off);
        std::vector<float> x(n + off), mask(n + off), y(n + off, -7.0f), y2(n + off);
        for (auto& v : x) v = dist(rng);
        for (std::size_t j = 0; j < mask.size(); ++j) mask[j] = (j % 3 == 1) ? -inf : (j % 5 == 0 ? -10000.0f : 0.0f);
        const float scale = 0.125f;
        for (int variant = 0; variant < 3; ++variant) {  // plain, scaled, scaled + mask
          std::vector<double> ref(n);
          double mx = -INFINITY, sum = 0;
          for (std::size_t j = 0; j < n; ++j) {
            const double v = variant == 0 ? x[off + j] : double(x[off + j]) * scale + (variant == 2 ? double(mask[off + j]) : 0.0);
            ref[j] = v;
            mx = std::max(mx, v);
          }
          if (variant == 2 && std::isinf(mx)) continue;  // every entry masked (n == 1 at offset 1): covered below
          for (auto& v : ref) sum += (v = std::exp(v - mx));
          if (variant == 0) t.softmax(x.data() + off, y.data() + off, n);
          else t.softmax_scaled(x.data() + off, scale, variant == 2 ? mask.data() + off : nullptr, y.data() + off, n);
          double total = 0;
          for (std::size_t j = 0; j < n; ++j) {
            const double want = ref[j] / sum;
            worst = std::max(worst, std::fabs(y[off + j] - want));
            CHECK(std::fabs(y[off + j] - want) <= 1e-6 + 1e-6 * want);
            if (variant == 2 && std::isinf(mask[off + j])) CHECK(y[off + j] == 0.0f);
            total += y[off + j];
          }
          CHECK(std::fabs(total - 1.0) < 1e-5);
          for (std::size_t j = 0; j < off; ++j) CHECK(y[j] == -7.0f);
          // in place gives the same bits
          y2 = x;
          if (variant == 0) t.softmax(y2.data() + off, y2.data() + off, n);
          else t.softmax_scaled(y2.data() + off, scale, variant == 2 ? mask.data() + off : nullptr, y2.data() + off, n);
          CHECK(std::memcmp(y2.data() + off, y.data() + off, n * 4) == 0);
        }
      }
    std::printf("vector math softmax    %-10s max abs error %.3g\n", std::string(k::isa_name(i)).c_str(), worst);
    // Large values: max-subtracted, no overflow.
    std::vector<float> big{1000.0f, 1000.0f, 999.0f, -1000.0f}, out(4);
    t.softmax(big.data(), out.data(), 4);
    CHECK(out[0] == Approx(0.4223188).epsilon(1e-5));
    CHECK(out[3] == 0.0f);
    // All -inf (a fully masked row): NaN, as the scalar kernel (documented in vector_math.hpp).
    std::vector<float> masked(19, -inf), res(19);
    t.softmax(masked.data(), res.data(), 19);
    CHECK(std::all_of(res.begin(), res.end(), [](float v) { return std::isnan(v); }));
    // n == 0 writes nothing.
    float sentinel = 3.0f;
    t.softmax(masked.data(), &sentinel, 0);
    t.softmax_scaled(masked.data(), 1.0f, nullptr, &sentinel, 0);
    CHECK(sentinel == 3.0f);
  }
}

TEST_CASE("vector math: softmax before its division, scale rows, tiny weights", "[math]") {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> dist(-20.0f, 20.0f);
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    for (std::size_t n = 1; n <= 70; ++n)
      for (std::size_t off = 0; off < 2; ++off)
        for (const float scale : {0.125f, 1.0f, -0.5f}) {
          INFO(k::isa_name(i) << ", n = " << n << ", offset " << off << ", scale " << scale);
          std::vector<float> x(n + off), mask(n + off), y(n + off + 1, -7.0f), z(n + off);
          for (auto& v : x) v = dist(rng);
          for (std::size_t j = 0; j < mask.size(); ++j) mask[j] = (j % 4 == 3) ? -inf : (j % 7 == 0 ? -10000.0f : 0.0f);
          for (int with_mask = 0; with_mask < 2; ++with_mask) {
            const float* m = with_mask ? mask.data() + off : nullptr;
            // reference: e^(v - max v) in double, v = x * scale + mask
            std::vector<double> ref(n);
            double mx = -INFINITY, sum = 0;
            for (std::size_t j = 0; j < n; ++j) {
              ref[j] = double(x[off + j]) * scale + (m ? double(m[j]) : 0.0);
              mx = std::max(mx, ref[j]);
            }
            if (std::isinf(mx)) continue;  // every entry masked: the all -inf row is covered below
            for (auto& v : ref) sum += (v = std::exp(v - mx));
            const float got = t.softmax_exp(x.data() + off, scale, m, y.data() + off, n);
            CHECK(std::fabs(got - sum) <= 1e-5 * sum);
            for (std::size_t j = 0; j < n; ++j) {
              // as softmax's bound (the f32 v - max rounds by up to ~2e-6 at |v| ~ 40); weights are 1 at most
              CHECK(std::fabs(y[off + j] - ref[j]) <= 1e-6 + 1e-6 * ref[j]);
              if (ref[j] < std::exp(-87.5)) CHECK(y[off + j] == 0.0f);  // 0, not denormal (vector_math.hpp)
              if (m && std::isinf(m[j])) CHECK(y[off + j] == 0.0f);
            }
            CHECK(y[off + n] == -7.0f);  // nothing written past n
            for (std::size_t j = 0; j < off; ++j) CHECK(y[j] == -7.0f);
            // softmax_scaled is these weights times 1 / their sum, bit for bit; scale_row multiplies
            t.softmax_scaled(x.data() + off, scale, m, z.data() + off, n);
            std::vector<float> w(y.begin() + static_cast<std::ptrdiff_t>(off), y.begin() + static_cast<std::ptrdiff_t>(off + n));
            t.scale(w.data(), 1.0f / got, w.data(), n);
            CHECK(std::memcmp(w.data(), z.data() + off, n * 4) == 0);
            for (std::size_t j = 0; j < n; ++j) CHECK(w[j] == y[off + j] * (1.0f / got));
          }
        }
    // Scores far apart: weights under e^-87 are exactly 0, never denormal; those above stay.
    std::vector<float> far{0.0f, -86.5f, -87.5f, -100.0f, -200.0f, -inf, -50.0f}, e(far.size());
    const float sum = t.softmax_exp(far.data(), 1.0f, nullptr, e.data(), far.size());
    CHECK(e[0] == 1.0f);
    CHECK(e[1] == Approx(std::exp(-86.5)).epsilon(1e-6));
    CHECK(std::fpclassify(e[1]) == FP_NORMAL);
    CHECK((e[2] == 0.0f && e[3] == 0.0f && e[4] == 0.0f && e[5] == 0.0f));
    CHECK(sum == Approx(1.0 + std::exp(-50.0)).epsilon(1e-7));
    std::vector<float> sm(far.size());
    t.softmax(far.data(), sm.data(), far.size());
    for (float v : sm) CHECK(std::fpclassify(v) != FP_SUBNORMAL);
    // All -inf: the sum is NaN (the row's output is NaN, as softmax's); n == 0 writes nothing and sums to 0.
    std::vector<float> masked(19, -inf), res(19);
    CHECK(std::isnan(t.softmax_exp(masked.data(), 1.0f, nullptr, res.data(), 19)));
    float sentinel = 3.0f;
    CHECK(t.softmax_exp(masked.data(), 1.0f, nullptr, &sentinel, 0) == 0.0f);
    t.scale(masked.data(), 2.0f, &sentinel, 0);
    CHECK(sentinel == 3.0f);
  }
}

TEST_CASE("vector math: max and sum rows", "[math]") {
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    for (std::size_t n = 0; n <= 70; ++n) {
      std::vector<float> x(n + 1);
      for (std::size_t j = 0; j < x.size(); ++j) x[j] = static_cast<float>((j * 37) % 23) - 11.0f;
      float mx = -inf, s = 0;
      for (std::size_t j = 1; j <= n; ++j) mx = std::max(mx, x[j]), s += x[j];
      CHECK(t.max(x.data() + 1, n) == mx);
      CHECK(t.sum(x.data() + 1, n) == s);  // small integers: exact in any order
    }
  }
}

TEST_CASE("vector math: layer norm rows", "[math]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-3.0f, 5.0f);
  for (k::isa i : runnable_isas()) {
    const table& t = vm::kernels_for(i);
    REQUIRE(k::force_isa(i) == k::status::ok);
    double worst = 0;
    for (std::size_t n = 1; n <= 70; ++n)
      for (int mode = 0; mode < 4; ++mode) {  // scale per element / broadcast, bias per element / broadcast / none
        INFO(k::isa_name(i) << ", n = " << n << ", mode " << mode);
        std::vector<float> x(n + 1), s(n + 1), b(n + 1), r(n + 1), y(n + 1, -7.0f), sum(n + 1);
        for (std::size_t j = 0; j < x.size(); ++j) x[j] = dist(rng), s[j] = dist(rng), b[j] = dist(rng), r[j] = dist(rng);
        const std::size_t sn = mode == 1 ? 1 : n, bn = mode == 2 ? 1 : n;
        const float* bias = mode == 3 ? nullptr : b.data() + 1;
        const float eps = 1e-5f;
        auto reference = [&](const float* in, std::vector<double>& out) {
          double mean = 0, var = 0;
          for (std::size_t j = 0; j < n; ++j) mean += in[j];
          mean /= double(n);
          for (std::size_t j = 0; j < n; ++j) var += (in[j] - mean) * (in[j] - mean);
          var /= double(n);
          out.resize(n);
          for (std::size_t j = 0; j < n; ++j)
            out[j] = (in[j] - mean) / std::sqrt(var + eps) * s[1 + (sn == 1 ? 0 : j)] + (bias ? bias[bn == 1 ? 0 : j] : 0.0);
        };
        std::vector<double> want;
        reference(x.data() + 1, want);
        vm::layer_norm_row(x.data() + 1, y.data() + 1, n, s.data() + 1, sn, bias, bn, eps);
        for (std::size_t j = 0; j < n; ++j) {
          worst = std::max(worst, std::fabs(y[1 + j] - want[j]));
          CHECK(std::fabs(y[1 + j] - want[j]) <= 2e-5 * (1 + std::fabs(want[j])));
        }
        CHECK(y[0] == -7.0f);
        // fused residual add, writing the sum; then in place
        std::vector<float> xr(n);
        for (std::size_t j = 0; j < n; ++j) xr[j] = x[1 + j] + r[1 + j];
        reference(xr.data(), want);
        vm::add_layer_norm_row(x.data() + 1, r.data() + 1, y.data() + 1, n, s.data() + 1, sn, bias, bn, eps, sum.data() + 1);
        CHECK(std::memcmp(sum.data() + 1, xr.data(), n * 4) == 0);
        for (std::size_t j = 0; j < n; ++j) CHECK(std::fabs(y[1 + j] - want[j]) <= 2e-5 * (1 + std::fabs(want[j])));
        std::vector<float> inplace(x);
        vm::add_layer_norm_row(inplace.data() + 1, r.data() + 1, inplace.data() + 1, n, s.data() + 1, sn, bias, bn, eps);
        CHECK(std::memcmp(inplace.data() + 1, y.data() + 1, n * 4) == 0);
        (void)t;
      }
    // Constant row: y = bias exactly; one scale value broadcast.
    for (std::size_t n : {1u, 7u, 16u, 33u, 768u}) {
      std::vector<float> x(n, 2.5f), b(n), y(n);
      for (std::size_t j = 0; j < n; ++j) b[j] = 0.25f * static_cast<float>(j % 9);
      const float scale = 3.0f;
      vm::layer_norm_row(x.data(), y.data(), n, &scale, 1, b.data(), n, 1e-5f);
      CHECK(y == b);
    }
    // x = [-1, 1] repeated: mean 0, var 1 -> y = x / sqrt(1 + eps) * scale + bias.
    std::vector<float> x(50), y(50);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] = j % 2 ? 1.0f : -1.0f;
    const float scale = 2.0f, bias = 0.5f;
    vm::layer_norm_row(x.data(), y.data(), x.size(), &scale, 1, &bias, 1, 0.0f);
    for (std::size_t j = 0; j < x.size(); ++j) CHECK(y[j] == x[j] * 2.0f + 0.5f);
    std::printf("vector math layer_norm %-10s max abs error %.3g\n", std::string(k::isa_name(i)).c_str(), worst);
  }
  REQUIRE(k::force_isa(std::nullopt) == k::status::ok);
}
