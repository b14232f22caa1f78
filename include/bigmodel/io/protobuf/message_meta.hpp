#pragma once
// message_meta: what a parsed message remembers beyond its typed fields, so that writing it back gives the
// same bytes:
//  - order: the known field numbers in order of first appearance, interleaved with every unknown record
//    (entries with unknown_bit set index into `unknown`). emit_fields() replays that order; fields never
//    seen (set by code after parsing, or in messages built from scratch) follow in field-number order,
//    which is what protobuf itself writes.
//  - present: presence bits for known fields (proto2 semantics: an explicitly written default is kept).
//  - flipped_packing: repeated scalars that used the non-default encoding (packed vs unpacked).
//  - unknown: fields this version does not interpret, kept verbatim (tag + payload) as views of the input.
// Known field numbers must be < 64 (ONNX's are <= 25).

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "../shared_bytes.hpp"
#include "wire.hpp"

namespace bigmodel::io::protobuf {

struct unknown_field {
  std::uint32_t number = 0;
  shared_bytes record;  // the complete field as it was on the wire: tag, length if any, payload
};

struct message_meta {
  static constexpr std::uint32_t unknown_bit = 0x80000000u;

  std::vector<std::uint32_t> order;
  std::uint64_t present = 0;
  std::uint64_t flipped_packing = 0;
  std::vector<unknown_field> unknown;

  [[nodiscard]] bool has(std::uint32_t field) const noexcept { return field < 64 && ((present >> field) & 1u); }
  // Records that a known field was seen (first sighting fixes its position in the output).
  void mark(std::uint32_t field) {
    if (field >= 64 || has(field)) return;
    present |= std::uint64_t{1} << field;
    order.push_back(field);
  }
  void clear(std::uint32_t field) noexcept {
    if (field < 64) present &= ~(std::uint64_t{1} << field);
  }
  [[nodiscard]] bool packing_flipped(std::uint32_t field) const noexcept {
    return field < 64 && ((flipped_packing >> field) & 1u);
  }
  void set_packing(std::uint32_t field, bool packed, bool default_packed) noexcept {
    if (field >= 64) return;
    const auto bit = std::uint64_t{1} << field;
    flipped_packing = packed != default_packed ? (flipped_packing | bit) : (flipped_packing & ~bit);
  }
  void add_unknown(std::uint32_t number, shared_bytes record) {
    order.push_back(unknown_bit | static_cast<std::uint32_t>(unknown.size()));
    unknown.push_back({number, std::move(record)});
  }
  [[nodiscard]] bool empty() const noexcept { return order.empty() && present == 0 && unknown.empty(); }
};

// Writes a message's fields: emit_known(field_number) writes one known field (all elements if repeated,
// nothing if absent); known_fields lists the message's known numbers in ascending order.
template <class W, class EmitKnown>
void emit_fields(W& w, const message_meta& m, std::span<const std::uint32_t> known_fields, EmitKnown&& emit_known) {
  std::uint64_t done = 0;
  std::size_t referenced = 0;
  for (const std::uint32_t e : m.order) {
    if (e & message_meta::unknown_bit) {
      const std::size_t idx = e & ~message_meta::unknown_bit;
      if (idx < m.unknown.size()) w.raw(m.unknown[idx].record.span());
      referenced = std::max(referenced, idx + 1);
    } else if (e < 64 && !((done >> e) & 1u)) {
      done |= std::uint64_t{1} << e;
      emit_known(e);
    }
  }
  for (const std::uint32_t f : known_fields)
    if (!((done >> f) & 1u)) emit_known(f);
  for (std::size_t i = referenced; i < m.unknown.size(); ++i) w.raw(m.unknown[i].record.span());
}

}  // namespace bigmodel::io::protobuf
