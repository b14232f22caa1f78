// The weight-only GEMV tile, written once over a struct of vector operations and compiled once per ISA.
// No include guard on purpose: each ISA's header includes this file inside its own namespace (and, for the
// x86 ISAs, inside its target region) right after defining `struct wo_vec`:
//   iv, fv        nr lanes of s32 / f32;  xv: 4 s8 values of x, broadcast (whatever form dot4 wants)
//   izero, load   (nr * 4 bytes of codes), lo4 / hi4 (low / high nibble of every byte), bcast4 (4 s8 of x),
//   dot4(acc, codes, x)  acc + per lane sum of the 4 products u8 code x s8 x (exact),
//   iadd, shl4, to_f, fzero, fload, fset1, fma(a, b, c) = a * b + c, fnma(a, b, c) = c - a * b, fmul, fstore;
//   direct_u8: dot4 takes whole u8 codes (else int8 codes are split into nibbles, see below); max_rows;
//   wide: 32 vector registers; hi_in_place: dot4 takes u8 codes up to 240 (int4 high nibbles masked in place,
//   hi4x16, the factor 16 removed from the chunk's sum by sra4).
// Semantics (identical for every ISA up to f32 rounding): see weight_only.hpp.

template <int Rows, int Panels, bool Int4>
void wo_gemv_tile(const detail::wo_problem& pr, std::size_t row0, std::size_t panel0) noexcept {
  using V = wo_vec;
  constexpr std::size_t nr = V::nr;
  const packed_weight_only& w = *pr.w;
  const std::size_t pb = w.panel_bytes(), bb = w.block_bytes(), nchunks = w.chunks().size(), ldxq = pr.ldxq;
  const std::uint8_t* const wp = w.panel(panel0);
  typename V::fv acc[Rows][Panels];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
    for (int p = 0; p < Panels; ++p) acc[r][p] = V::fzero();
  for (std::size_t c = 0; c < nchunks; ++c) {
    const packed_weight_only::chunk& ch = w.chunks()[c];
    // a0 / a1: the k0..3 and k4..7 halves of each block (int4, or int8 with direct_u8); with split int8
    // codes, the low and the high nibbles (dot = a0 + 16 * a1). At most 128 k: |dot| < 2^23, exact in f32.
    typename V::iv a0[Rows][Panels], a1[Rows][Panels];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) a0[r][p] = a1[r][p] = V::izero();
    const std::uint8_t* b = wp + ch.block_offset * bb;
    const std::int8_t* x = pr.xq + row0 * ldxq + ch.x_offset;
    for (std::size_t blk = 0; blk < ch.blocks; ++blk, b += bb, x += 8) {
      if constexpr (Int4 || V::direct_u8) {  // h0 / h1: the codes of k0..3 and k4..7
        typename V::iv h0[Panels], h1[Panels];
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p) {
          const std::uint8_t* bp = b + static_cast<std::size_t>(p) * pb;
          __builtin_prefetch(bp + BIGMODEL_WO_PREFETCH);
          if constexpr (Int4) {
            const typename V::iv v = V::load(bp);
            h0[p] = V::lo4(v);
            if constexpr (V::hi_in_place) h1[p] = V::hi4x16(v);  // 16 x the code: one op, undone per chunk
            else h1[p] = V::hi4(v);
          } else {
            h0[p] = V::load(bp);
            h1[p] = V::load(bp + nr * 4);
          }
        }
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
          const typename V::xv xa = V::bcast4(x + static_cast<std::size_t>(r) * ldxq), xb = V::bcast4(x + static_cast<std::size_t>(r) * ldxq + 4);
#pragma GCC unroll 4
          for (int p = 0; p < Panels; ++p) {
            a0[r][p] = V::dot4(a0[r][p], h0[p], xa);
            a1[r][p] = V::dot4(a1[r][p], h1[p], xb);
          }
        }
      } else {  // u8 x s8 pairs would saturate s16 (vpmaddubsw): split the codes, u = 16 * hi + lo
        typename V::iv l0[Panels], h0[Panels], l1[Panels], h1[Panels];
#pragma GCC unroll 4
        for (int p = 0; p < Panels; ++p) {
          const typename V::iv v0 = V::load(b + static_cast<std::size_t>(p) * pb), v1 = V::load(b + static_cast<std::size_t>(p) * pb + nr * 4);
          l0[p] = V::lo4(v0);
          h0[p] = V::hi4(v0);
          l1[p] = V::lo4(v1);
          h1[p] = V::hi4(v1);
        }
#pragma GCC unroll 8
        for (int r = 0; r < Rows; ++r) {
          const typename V::xv xa = V::bcast4(x + static_cast<std::size_t>(r) * ldxq), xb = V::bcast4(x + static_cast<std::size_t>(r) * ldxq + 4);
#pragma GCC unroll 4
          for (int p = 0; p < Panels; ++p) {
            a0[r][p] = V::dot4(V::dot4(a0[r][p], l0[p], xa), l1[p], xb);
            a1[r][p] = V::dot4(V::dot4(a1[r][p], h0[p], xa), h1[p], xb);
          }
        }
      }
    }
    // Chunk done: acc += scale_w * scale_x * (dot - z * sum(x codes)); the bracket is exact in f32.
    const std::size_t g = ch.group;
    typename V::fv s[Panels], z[Panels];
#pragma GCC unroll 4
    for (int p = 0; p < Panels; ++p) {
      s[p] = V::fload(w.scales(panel0 + static_cast<std::size_t>(p), g));
      z[p] = w.has_zero_points() ? V::fload(w.zeros(panel0 + static_cast<std::size_t>(p), g)) : V::fset1(w.zero_constant());
    }
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      const std::size_t xi = (row0 + static_cast<std::size_t>(r)) * nchunks + c;
      const typename V::fv sx = V::fset1(pr.xscale[xi]), sum = V::fset1(pr.xsum[xi]);
#pragma GCC unroll 4
      for (int p = 0; p < Panels; ++p) {
        typename V::iv dot;
        if constexpr (Int4 && V::hi_in_place) dot = V::iadd(a0[r][p], V::sra4(a1[r][p]));  // a1: a multiple of 16
        else if constexpr (Int4 || V::direct_u8) dot = V::iadd(a0[r][p], a1[r][p]);
        else dot = V::iadd(a0[r][p], V::shl4(a1[r][p]));
        const typename V::fv d = V::fnma(z[p], sum, V::to_f(dot));
        acc[r][p] = V::fma(d, V::fmul(s[p], sx), acc[r][p]);
      }
    }
  }
  const std::size_t n = w.n();
  for (int p = 0; p < Panels; ++p) {
    const std::size_t n0 = (panel0 + static_cast<std::size_t>(p)) * nr;
    if (n0 >= n) break;  // padding panels
    const std::size_t count = n - n0 < nr ? n - n0 : nr;
    for (int r = 0; r < Rows; ++r) {
      alignas(64) float t[nr];
      V::fstore(t, acc[r][p]);
      float* yr = pr.y + (row0 + static_cast<std::size_t>(r)) * pr.ldy + n0;
      if (pr.bias != nullptr)
        for (std::size_t j = 0; j < count; ++j) yr[j] = t[j] + pr.bias[n0 + j];
      else
        for (std::size_t j = 0; j < count; ++j) yr[j] = t[j];
    }
  }
}

template <int Rows, bool Int4>
constexpr detail::wo_tile_fn wo_tile_entry() noexcept {
  if constexpr (Rows <= wo_vec::max_rows) return &wo_gemv_tile<Rows, static_cast<int>(detail::wo_panels_for(Rows, wo_vec::wide)), Int4>;
  else return nullptr;
}

// Data only (no code runs in the target region): the ISA's header returns it from outside the region.
inline constexpr detail::wo_kernels wo_kernel_table{
    wo_vec::max_rows,
    wo_vec::wide,
    {wo_tile_entry<1, true>(), wo_tile_entry<2, true>(), wo_tile_entry<3, true>(), wo_tile_entry<4, true>(),
     wo_tile_entry<5, true>(), wo_tile_entry<6, true>(), wo_tile_entry<7, true>(), wo_tile_entry<8, true>()},
    {wo_tile_entry<1, false>(), wo_tile_entry<2, false>(), wo_tile_entry<3, false>(), wo_tile_entry<4, false>(),
     wo_tile_entry<5, false>(), wo_tile_entry<6, false>(), wo_tile_entry<7, false>(), wo_tile_entry<8, false>()}};
