#pragma once
// The ISA-independent blocking around the register-tile kernels.
//
// Large M: A is cut into row blocks of at most ~256 KiB (they stay in L2 while all of B streams past), B into
// blocks of about 256 columns; one task = one (row block, column block). Inside a task, each group of
// register-tile panels of B (<= 48 columns x K, L2-resident) is reused by every row tile of the block.
// M <= small_m (token-by-token decoding): one tile row of exactly M rows and wide tiles stream each weight
// byte once -- the kernel is bound by the bytes of B it reads.
// The tiling never depends on the thread count, so results are identical for any number of threads.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <thread>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "aligned_buffer.hpp"
#include "gemm_args.hpp"
#include "gemm_config.hpp"
#include "parallel_for.hpp"
#include "tile_kernels.hpp"

// Cache blocking (tuning knobs): bytes of packed A per row block, columns of B per task.
#ifndef BIGMODEL_KERNELS_A_BLOCK_BYTES
#define BIGMODEL_KERNELS_A_BLOCK_BYTES (256 * 1024)
#endif
#ifndef BIGMODEL_KERNELS_BLOCK_COLUMNS
#define BIGMODEL_KERNELS_BLOCK_COLUMNS 256
#endif

namespace bigmodel::kernels::detail {

struct gemm_plan {
  const std::uint8_t* a;  // packed u8 (pack_a); the tile starting at row r begins at a + (r - a_row0) * lda
  std::size_t lda;
  std::size_t a_row0;     // first row held at a (0, or the row block's first row when A is produced per block)
  std::size_t rows_per_tile, panels_per_tile;
  std::size_t rows_per_block, panels_per_block;
  std::size_t row_blocks, panel_blocks;
};

inline aligned_buffer& a_scratch() noexcept {
  thread_local aligned_buffer buffer;
  return buffer;
}

[[nodiscard]] inline resolved_epilogue resolve(const gemm_args& x) noexcept {
  resolved_epilogue e;
  const epilogue& ep = x.ep;
  e.out = x.c_type;
  e.colsum = x.b->column_sums();
  // s8 activations run as u8 = a + 128, so the zero point in the u8 domain is zp + 128.
  e.zero_point_shift = x.a_signed ? 128 : 0;
  e.zero_point = ep.a_zero_point + e.zero_point_shift;
  e.row_zero_point = ep.a_row_zero_point;
  e.a_scale = ep.a_scale;
  e.row_scale = ep.a_row_scale;
  e.w_scale = ep.w_scale;
  e.per_channel = ep.w_scale_per_channel;
  e.bias = ep.bias;
  e.act = ep.act;
  e.inv_out_scale = 1.0f / ep.out_scale;
  e.out_zero_point = ep.out_zero_point;
  return e;
}

// A is always repacked, once per call: rows grouped by register tile and interleaved 4 bytes at a time
// ([k_groups][rows][4] per tile), so a tile reads one contiguous stream instead of `rows` streams lda apart
// (which alias in L1 when lda is a multiple of 4 KiB). s8 becomes u8 + 128 on the way; K is zero-padded.
// pack8 (optional) packs whole 64-byte steps of 8-row tiles with SIMD, SSE2 16-byte steps of 4-row tiles; the
// scalar loop does the rest.
inline void pack_a(const std::uint8_t* src, std::size_t lda, std::size_t m, std::size_t k, std::size_t kp,
                   std::size_t rows_per_tile, bool flip_sign, std::uint8_t* dst, pack_a_rows8_fn pack8 = nullptr) noexcept {
  const std::uint32_t flip4 = flip_sign ? 0x80808080u : 0u;  // s8 -> u8 + 128 is a flip of the top bit
  const std::size_t full = k / k_group, rest = k % k_group;
  constexpr std::size_t groups_per_chunk = 64 / k_group;
  for (std::size_t r0 = 0; r0 < m; r0 += rows_per_tile) {
    const std::size_t rows = std::min(rows_per_tile, m - r0), step = rows * k_group;
    std::size_t g0 = 0;
    if (rows == 8 && pack8 != nullptr) {
      const std::size_t chunks = full / groups_per_chunk;
      pack8(src + r0 * lda, lda, chunks, flip_sign, dst + r0 * kp);
      g0 = chunks * groups_per_chunk;
    }
#if defined(__SSE2__)
    if (rows == 4) {  // the AVX2 tile: four rows' 16-byte runs transposed as a 4 x 4 matrix of 4-byte groups
      const __m128i flip = _mm_set1_epi32(static_cast<int>(flip4));
      const std::uint8_t* s = src + r0 * lda;
      std::uint8_t* d = dst + r0 * kp;
      for (; g0 + 4 <= full; g0 += 4) {
        const auto load = [&](std::size_t i) {
          return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * lda + g0 * k_group)), flip);
        };
        const __m128i x0 = load(0), x1 = load(1), x2 = load(2), x3 = load(3);
        const __m128i lo01 = _mm_unpacklo_epi32(x0, x1), lo23 = _mm_unpacklo_epi32(x2, x3);  // groups 0, 1
        const __m128i hi01 = _mm_unpackhi_epi32(x0, x1), hi23 = _mm_unpackhi_epi32(x2, x3);  // groups 2, 3
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g0 + 0) * step), _mm_unpacklo_epi64(lo01, lo23));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g0 + 1) * step), _mm_unpackhi_epi64(lo01, lo23));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g0 + 2) * step), _mm_unpacklo_epi64(hi01, hi23));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g0 + 3) * step), _mm_unpackhi_epi64(hi01, hi23));
      }
    }
#endif
    for (std::size_t i = 0; i < rows; ++i) {
      const std::uint8_t* s = src + (r0 + i) * lda;
      std::uint8_t* d = dst + r0 * kp + i * k_group;
      for (std::size_t g = g0; g < full; ++g) {
        std::uint32_t v;
        std::memcpy(&v, s + g * k_group, 4);
        v ^= flip4;
        std::memcpy(d + g * step, &v, 4);
      }
      if (rest != 0) {
        std::uint8_t tail[k_group] = {};  // padding meets zero weights: adds nothing
        for (std::size_t t = 0; t < rest; ++t) tail[t] = static_cast<std::uint8_t>(s[full * k_group + t] ^ (flip4 & 0xFFu));
        std::memcpy(d + full * step, tail, k_group);
      }
    }
  }
}

[[nodiscard]] inline bool prepare_a(const isa_kernels& ks, const gemm_args& x, gemm_plan& plan) noexcept {
  const std::size_t kp = x.b->k_padded();
  aligned_buffer& buf = a_scratch();
  try {
    buf.reserve(x.m * kp);
  } catch (const std::bad_alloc&) {
    return false;
  }
  auto* dst = reinterpret_cast<std::uint8_t*>(buf.data());
  pack_a(static_cast<const std::uint8_t*>(x.a), x.lda, x.m, x.b->k(), kp, plan.rows_per_tile, x.a_signed, dst, ks.pack_a_rows8);
  plan.a = dst;
  plan.lda = kp;
  plan.a_row0 = 0;
  return true;
}

[[nodiscard]] inline gemm_plan make_plan(const gemm_config& cfg, std::size_t m, std::size_t kp, std::size_t panels) noexcept {
  gemm_plan p{};
  constexpr std::size_t a_block_bytes = BIGMODEL_KERNELS_A_BLOCK_BYTES, block_columns = BIGMODEL_KERNELS_BLOCK_COLUMNS;
  if (m <= cfg.small_m) {
    p.rows_per_tile = m;
    p.panels_per_tile = std::clamp<std::size_t>(cfg.max_acc / m, 1, cfg.small_nb);
    p.rows_per_block = m;
  } else {
    p.rows_per_tile = cfg.mr;
    p.panels_per_tile = cfg.nb;
    p.rows_per_block = std::max<std::size_t>(1, a_block_bytes / (kp * cfg.mr)) * cfg.mr;
  }
  p.panels_per_block = std::max<std::size_t>(1, block_columns / (cfg.nr * p.panels_per_tile)) * p.panels_per_tile;
  p.row_blocks = (m + p.rows_per_block - 1) / p.rows_per_block;
  p.panel_blocks = (panels + p.panels_per_block - 1) / p.panels_per_block;
  return p;
}

// before_tile (optional) is called with the first row of every row tile of the block, right before that tile's
// first kernel call (the first group of panels): run_blocked_produced makes sure the tile's A exists there.
inline void run_block(const isa_kernels& ks, const gemm_plan& plan, const gemm_args& x, const resolved_epilogue& e,
                      std::size_t task, const std::function<void(std::size_t)>* before_tile = nullptr) noexcept {
  const packed_weights& b = *x.b;
  const std::size_t nr = b.nr(), n = b.n(), k_groups = b.k_padded() / k_group;
  const std::size_t r_begin = (task / plan.panel_blocks) * plan.rows_per_block;
  const std::size_t r_end = std::min(x.m, r_begin + plan.rows_per_block);
  const std::size_t p_begin = (task % plan.panel_blocks) * plan.panels_per_block;
  const std::size_t p_end = std::min(b.panels(), p_begin + plan.panels_per_block);
  const std::size_t c_size = out_size(x.c_type), ldc_bytes = x.ldc * c_size;
  auto* c = static_cast<std::byte*>(x.c);
  alignas(64) std::int32_t tile[max_tile_rows * max_tile_panels * 16];
  const bool direct = e.out == out_type::s32 && e.row_zero_point == nullptr && e.zero_point == 0;
  const fused_table* fused = e.out != out_type::s32 && ks.fused[0][0] != nullptr ? &ks.fused : nullptr;
  for (std::size_t p = p_begin; p < p_end; p += plan.panels_per_tile) {
    const std::size_t panels = std::min(plan.panels_per_tile, p_end - p);
    const std::size_t n0 = p * nr, count = std::min(panels * nr, n - n0), ldt = panels * nr;
    const tile_fn* row_of_kernels = nullptr;
    for (std::size_t r = r_begin; r < r_end; r += plan.rows_per_tile) {
      const std::size_t rows = std::min(plan.rows_per_tile, r_end - r);
      if (before_tile != nullptr && p == p_begin) (*before_tile)(r);
      row_of_kernels = ks.tiles[rows - 1].data();
      std::byte* c_tile = c + r * ldc_bytes + n0 * c_size;
      if (fused) {  // f32 / u8 / s8: the epilogue runs on the accumulator registers, C written directly
        (*fused)[rows - 1][panels - 1](plan.a + (r - plan.a_row0) * plan.lda, b.data() + p * b.panel_bytes(), b.panel_bytes(), k_groups, e,
                                    r, n0, count, c_tile, x.ldc);
        continue;
      }
      if (direct && count == ldt) {  // raw s32 with nothing to correct: the tile kernel writes C itself
        row_of_kernels[panels - 1](plan.a + (r - plan.a_row0) * plan.lda, b.data() + p * b.panel_bytes(), b.panel_bytes(), k_groups,
                                   reinterpret_cast<std::int32_t*>(c_tile), x.ldc);
        continue;
      }
      row_of_kernels[panels - 1](plan.a + (r - plan.a_row0) * plan.lda, b.data() + p * b.panel_bytes(), b.panel_bytes(),
                                 k_groups, tile, ldt);
      ks.store(e, r, rows, n0, count, tile, ldt, c_tile, ldc_bytes);
    }
  }
}

// Assumes can_implement(x) == ok.
[[nodiscard]] inline status run_blocked(const isa_kernels& ks, const gemm_config& cfg, const gemm_args& x,
                                        const execution& ex) noexcept {
  if (x.m == 0) return status::ok;
  gemm_plan plan = make_plan(cfg, x.m, x.b->k_padded(), x.b->panels());
  if (!prepare_a(ks, x, plan)) return status::execution_failed;
  const resolved_epilogue e = resolve(x);
  const std::size_t tasks = plan.row_blocks * plan.panel_blocks;
  if (!ex.parallel_for || tasks == 1) {
    for (std::size_t t = 0; t < tasks; ++t) run_block(ks, plan, x, e, t);
    return status::ok;
  }
  try {
    ex.parallel_for(tasks, [&](std::size_t t) { run_block(ks, plan, x, e, t); });
  } catch (...) {
    return status::execution_failed;
  }
  return status::ok;
}

// Writes rows [r0, r0 + rows) of A in the packed layout of pack_a (tiles of rows_per_tile rows, [k_groups][rows][4],
// K zero-padded to kp) at dst, which is where row r0 goes; r0 is a multiple of rows_per_tile. Must not throw.
using a_producer = std::function<void(std::size_t r0, std::size_t rows, std::size_t rows_per_tile, std::size_t kp,
                                      std::uint8_t* dst)>;

// Runs the GEMM with A made by `produce` instead of packed from x.a (which is not read). Single-threaded: one row
// block at a time, A produced into a block-sized buffer (still in cache) right before that block's tasks
// consume it. With a parallel_for: one parallel_for over all tasks, like run_blocked (a barrier per row block,
// or a separate parallel_for for producing, costs more than it saves: every block would wait for the slowest
// thread, and thread_parallel_for starts threads per call); each tile of A is produced by the first task that
// needs it while the others needing it wait, so production is spread over the threads. Assumes
// can_implement(x) == ok. The tiling is make_plan's either way, so results are those of run_blocked on the same A.
[[nodiscard]] inline status run_blocked_produced(const isa_kernels& ks, const gemm_config& cfg, const gemm_args& x,
                                                 const a_producer& produce, const execution& ex) noexcept {
  if (x.m == 0) return status::ok;
  const std::size_t kp = x.b->k_padded();
  gemm_plan plan = make_plan(cfg, x.m, kp, x.b->panels());
  const bool serial = !ex.parallel_for;
  const std::size_t tiles = (x.m + plan.rows_per_tile - 1) / plan.rows_per_tile;
  aligned_buffer& buf = a_scratch();
  std::unique_ptr<std::atomic<std::uint8_t>[]> state;  // per tile: 0 to do, 1 being produced, 2 ready
  try {
    buf.reserve((serial ? std::min(x.m, plan.rows_per_block) : x.m) * kp);
    if (!serial) state.reset(new std::atomic<std::uint8_t>[tiles]());
  } catch (const std::bad_alloc&) {
    return status::execution_failed;
  }
  auto* dst = reinterpret_cast<std::uint8_t*>(buf.data());
  plan.a = dst;
  plan.lda = kp;
  plan.a_row0 = 0;
  const resolved_epilogue e = resolve(x);
  // The tile starting at row tr (in a row block ending at r_end), at its place in the buffer (which holds a_row0).
  const auto produce_tile = [&](std::size_t r_end, std::size_t tr) {
    produce(tr, std::min(plan.rows_per_tile, r_end - tr), plan.rows_per_tile, kp, dst + (tr - plan.a_row0) * kp);
  };
  if (serial) {
    for (std::size_t rb = 0; rb < plan.row_blocks; ++rb) {
      const std::size_t r0 = rb * plan.rows_per_block, r_end = std::min(x.m, r0 + plan.rows_per_block);
      plan.a_row0 = r0;
      for (std::size_t tr = r0; tr < r_end; tr += plan.rows_per_tile) produce_tile(r_end, tr);
      for (std::size_t t = 0; t < plan.panel_blocks; ++t) run_block(ks, plan, x, e, rb * plan.panel_blocks + t);
    }
    return status::ok;
  }
  // Row blocks are whole tiles, so the tile starting at row r is tile r / rows_per_tile of the whole of A.
  const std::function<void(std::size_t)> ensure = [&](std::size_t r) {
    std::atomic<std::uint8_t>& s = state[r / plan.rows_per_tile];
    if (s.load(std::memory_order_acquire) == 2) return;
    std::uint8_t expected = 0;
    if (s.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      produce_tile(x.m, r);
      s.store(2, std::memory_order_release);
      return;
    }
    while (s.load(std::memory_order_acquire) != 2) std::this_thread::yield();
  };
  try {
    ex.parallel_for(plan.row_blocks * plan.panel_blocks, [&](std::size_t t) { run_block(ks, plan, x, e, t, &ensure); });
  } catch (...) {
    return status::execution_failed;
  }
  return status::ok;
}

}  // namespace bigmodel::kernels::detail
