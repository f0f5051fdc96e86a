// Shared helpers of the paddlecnn oneDNN operators: one CPU engine and stream, a
// per-thread scratch arena for the blocked-layout copies, and reorder helpers.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "paddle/extension.h"

namespace pcnn {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

inline dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

inline dnnl::stream& stream() {
  static dnnl::stream strm(engine());
  return strm;
}

// Buffers for the blocked copies live only inside one op call, so one growing
// arena per slot (and per thread) serves every layer without holding a copy per shape.
inline void* scratch(int slot, size_t bytes) {
  thread_local std::vector<std::vector<char>> arena(8);
  auto& buf = arena[slot];
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((addr + 63) & ~uintptr_t(63));  // 64-byte aligned
}

// A memory in layout `want` holding `user`'s data: `user` itself when the layouts
// agree, else a reorder into scratch slot `slot`.
inline memory as_layout(const memory& user, const memory::desc& want, int slot) {
  if (user.get_desc() == want) return user;
  memory out(want, engine(), scratch(slot, want.get_size()));
  dnnl::reorder(user, out).execute(stream(), const_cast<memory&>(user), out);
  return out;
}

// A memory in layout `want` to compute into, later copied to `user` by `copy_back`.
inline memory target(const memory& user, const memory::desc& want, int slot) {
  if (user.get_desc() == want) return user;
  return memory(want, engine(), scratch(slot, want.get_size()));
}

inline void copy_back(memory& computed, memory& user) {
  if (computed.get_data_handle() == user.get_data_handle()) return;
  dnnl::reorder(computed, user).execute(stream(), computed, user);
}

inline memory::dims dims_of(const paddle::Tensor& t) {
  auto s = t.shape();
  return memory::dims(s.begin(), s.end());
}

inline std::string key_of(const std::vector<memory::dims>& parts) {
  std::string k;
  for (const auto& p : parts) {
    for (auto v : p) k += std::to_string(v) + ",";
    k += ";";
  }
  return k;
}

inline void check_cpu_f32(const paddle::Tensor& t, const char* what) {
  PD_CHECK(t.is_cpu(), what, " must be on the CPU (the oneDNN backend is CPU-only)");
  PD_CHECK(t.dtype() == paddle::DataType::FLOAT32, what, " must be float32");
}

}  // namespace pcnn
