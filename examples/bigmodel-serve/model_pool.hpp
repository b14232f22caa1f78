#pragma once
// A served model: its metadata (inputs, outputs, datatypes, shapes) and a pool of K sessions that share one
// immutable plan (graph and weights), each with its own buffers. A request leases a free session and waits
// while all K are busy, so at most K requests of one model run at once and memory stays bounded.

#include <bigmodel/io/onnx_graph.hpp>
#include <bigmodel/passes/quantize/fast_paths.hpp>
#include <bigmodel/runtime/session.hpp>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace serve {

using served_session = bigmodel::basic_session<bigmodel::quant::quant_op_set>;

struct tensor_metadata {
  std::string name;
  bigmodel::dtype type = bigmodel::dtype::undefined;
  std::vector<std::int64_t> shape;  // -1: dynamic (a symbol or unknown)
  bool rank_known = true;
};

class model_pool {
 public:
  model_pool(std::string name, const std::filesystem::path& path, std::size_t sessions) : name_(std::move(name)) {
    // Quantized models run on the fused int8 kernels (DynamicLinear, StaticLinear, weight-only).
    auto g = bigmodel::io::load_onnx<bigmodel::quant::quant_op_set>(path);
    (void)bigmodel::quant::use_fast_paths(g);
    for (auto v : g.graph_inputs())
      if (!g.at(v).initializer) inputs_.push_back(describe(g.at(v)));
    for (auto v : g.graph_outputs()) outputs_.push_back(describe(g.at(v)));
    const auto plan = std::make_shared<const served_session::plan_type>(g, bigmodel::runtime::plan_options{.weight_only_kernel = true, .bf16_dot_products = true});
    for (std::size_t i = 0; i < std::max<std::size_t>(sessions, 1); ++i) {
      idle_.push_back(std::make_unique<served_session>(plan));
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::vector<tensor_metadata>& inputs() const noexcept { return inputs_; }
  [[nodiscard]] const std::vector<tensor_metadata>& outputs() const noexcept { return outputs_; }

  // A session on loan; returns it to the pool when destroyed.
  class lease {
   public:
    lease(model_pool& p, std::unique_ptr<served_session> s) : pool_(&p), s_(std::move(s)) {}
    lease(lease&& o) noexcept = default;
    lease& operator=(lease&&) = delete;
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      if (s_) pool_->give_back(std::move(s_));
    }
    served_session& operator*() const noexcept { return *s_; }
    served_session* operator->() const noexcept { return s_.get(); }

   private:
    model_pool* pool_;
    std::unique_ptr<served_session> s_;
  };

  [[nodiscard]] lease acquire() {
    std::unique_lock lock(mutex_);
    free_.wait(lock, [&] { return !idle_.empty(); });
    auto s = std::move(idle_.back());
    idle_.pop_back();
    return lease(*this, std::move(s));
  }

 private:
  static tensor_metadata describe(const bigmodel::value_info& v) {
    tensor_metadata m{v.name, v.type, {}, v.shape.has_value()};
    if (v.shape)
      for (const auto& d : *v.shape) m.shape.push_back(d.known() ? d.value : -1);
    return m;
  }

  void give_back(std::unique_ptr<served_session> s) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(s));
    }
    free_.notify_one();
  }

  std::string name_;
  std::vector<tensor_metadata> inputs_, outputs_;
  std::mutex mutex_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<served_session>> idle_;
};

}  // namespace serve
