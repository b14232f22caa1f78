// Bit-exact s32 results of every compiled ISA against an independent naive reference, over the sizes of
// issue 3 (full cross product up to 65, a sample with the large sizes), random and adversarial data,
// activation zero points, strided and unaligned A and C, both weight layouts, u8 and s8 activations.

#include "test_support.hpp"

#include <sstream>

namespace {

using namespace kt;

struct gemm_case {
  std::size_t m, n, k;
  bool a_signed;
  k::weight_layout layout;
  fill mode;
  std::int32_t zp;
  std::size_t lda_pad, ldc_pad;
};

std::string describe(const gemm_case& c) {
  std::ostringstream s;
  s << "M=" << c.m << " N=" << c.n << " K=" << c.k << (c.a_signed ? " s8" : " u8") << " A, zp=" << c.zp
    << (c.layout == k::weight_layout::k_by_n ? " KxN" : " NxK") << " fill=" << static_cast<int>(c.mode)
    << " lda+" << c.lda_pad << " ldc+" << c.ldc_pad;
  return s.str();
}

template <class TA>
void run_case(const gemm_case& c) {
  INFO(describe(c));
  const std::size_t lda = c.k + c.lda_pad, ldc = c.n + c.ldc_pad;
  const std::size_t ldw = (c.layout == k::weight_layout::k_by_n ? c.n : c.k) + 1;
  // One byte in front makes A unaligned; C starts one element in (aligned for int32, not for vectors).
  std::vector<TA> a_storage(c.m * lda + 1);
  std::vector<std::int8_t> w((c.layout == k::weight_layout::k_by_n ? c.k : c.n) * ldw);
  fill_matrix(a_storage, c.mode, false);
  fill_matrix(w, c.mode, true);
  const TA* a = a_storage.data() + 1;
  const auto want = naive_s32(c.m, c.n, c.k, a, lda, w.data(), ldw, c.layout, c.zp);

  for_each_isa([&](k::isa i) {
    INFO("isa " << k::isa_name(i));
    const auto packed = k::pack_weights(w.data(), c.k, c.n, ldw, c.layout);
    REQUIRE(packed.target() == i);
    std::vector<std::int32_t> c_storage(c.m * ldc + 1, 0x5A5A5A5A);
    std::int32_t* out = c_storage.data() + 1;
    k::gemm(c.m, a, lda, packed, out, ldc, k::raw_s32(c.zp));
    REQUIRE(k::last_used_isa() == i);
    std::size_t bad = 0, first = 0;
    for (std::size_t r = 0; r < c.m; ++r)
      for (std::size_t col = 0; col < ldc; ++col) {
        const std::int32_t got = out[r * ldc + col];
        const std::int32_t expect = col < c.n ? want[r * c.n + col] : 0x5A5A5A5A;  // padding untouched
        if (got != expect && bad++ == 0) first = r * ldc + col;
      }
    INFO("first difference at row " << first / ldc << " column " << first % ldc);
    CHECK(bad == 0);
  });
}

void run_case(const gemm_case& c) {
  if (c.a_signed) run_case<std::int8_t>(c);
  else run_case<std::uint8_t>(c);
}

gemm_case make_case(std::size_t m, std::size_t n, std::size_t kk, std::size_t index) {
  static constexpr std::int32_t u8_zps[] = {0, 128, 255};
  static constexpr std::int32_t s8_zps[] = {0, -128, 127};
  gemm_case c{m, n, kk, index % 2 == 1, index % 4 < 2 ? k::weight_layout::k_by_n : k::weight_layout::n_by_k,
              static_cast<fill>(index % 7 < 4 ? index % 7 : 0), 0, static_cast<std::size_t>(uniform(0, 3)),
              static_cast<std::size_t>(uniform(0, 3))};
  c.zp = c.a_signed ? s8_zps[index % 3] : u8_zps[index % 3];
  return c;
}

}  // namespace

TEST_CASE("qu8s8 gemm: s32 bit-exact, all ISAs, every M,N,K up to 65", "[kernels][gemm]") {
  std::vector<std::size_t> small;
  for (std::size_t s : sizes)
    if (s <= 65) small.push_back(s);
  std::size_t index = 0;
  for (std::size_t m : small)
    for (std::size_t n : small)
      for (std::size_t kk : small) run_case(make_case(m, n, kk, index++));
}

TEST_CASE("qu8s8 gemm: s32 bit-exact, all ISAs, sampled large sizes", "[kernels][gemm]") {
#if defined(BIGMODEL_KERNELS_TEST_SMALL)
  constexpr std::size_t samples = 10;
#else
  constexpr std::size_t samples = 40;
#endif
  std::vector<gemm_case> cases;
  // Always: the largest size in each role, and the M = 1 decoding shape.
  cases.push_back(make_case(1000, 17, 255, 1));
  cases.push_back(make_case(1, 1000, 1000, 2));
  cases.push_back(make_case(129, 1000, 7, 3));
  cases.push_back(make_case(255, 127, 129, 4));
  // 8-row tiles with several 64-byte steps of A (the SIMD A packing) plus a K tail, s8 and u8.
  cases.push_back(make_case(40, 33, 200, 5));
  cases.push_back(make_case(24, 20, 129, 6));
  std::size_t index = 7;
  while (cases.size() < samples) {
    const std::size_t m = sizes[static_cast<std::size_t>(uniform(0, static_cast<int>(sizes.size()) - 1))];
    const std::size_t n = sizes[static_cast<std::size_t>(uniform(0, static_cast<int>(sizes.size()) - 1))];
    const std::size_t kk = sizes[static_cast<std::size_t>(uniform(0, static_cast<int>(sizes.size()) - 1))];
    if (std::max({m, n, kk}) <= 65 || m * n * kk > 3'000'000) continue;
    cases.push_back(make_case(m, n, kk, index++));
  }
  for (const auto& c : cases) run_case(c);
}

TEST_CASE("qu8s8 gemm: the library's reference matches the naive definition", "[kernels][gemm]") {
  for (std::size_t index = 0; index < 8; ++index) {
    const gemm_case c = make_case(static_cast<std::size_t>(uniform(1, 20)), static_cast<std::size_t>(uniform(1, 40)),
                                  static_cast<std::size_t>(uniform(1, 70)), index);
    INFO(describe(c));
    std::vector<std::uint8_t> a(c.m * c.k);
    std::vector<std::int8_t> w(c.n * c.k);
    fill_matrix(a, c.mode, false);
    fill_matrix(w, c.mode, true);
    const std::size_t ldw = c.layout == k::weight_layout::k_by_n ? c.n : c.k;
    std::vector<std::int32_t> got(c.m * c.n);
    k::reference_gemm(c.m, c.n, c.k, a.data(), c.k, w.data(), ldw, c.layout, got.data(), c.n, k::raw_s32(c.zp));
    CHECK(got == naive_s32(c.m, c.n, c.k, a.data(), c.k, w.data(), ldw, c.layout, c.zp));
  }
}
