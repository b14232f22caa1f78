#pragma once
// bigmodel::error: what I/O, graphs and passes throw on bad input. It carries a stable id (for programs
// that branch on the kind of failure) and a context (which file, offset, node, tensor...).

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace bigmodel {

class error : public std::runtime_error {
 public:
  // id: stable, dotted, lower-case ("onnx.truncated", "quant.zero_group"...). context: where it happened.
  error(std::string id, const std::string& message, std::string context = {})
      : std::runtime_error(format(id, message, context)), id_(std::move(id)), context_(std::move(context)) {}

  [[nodiscard]] const std::string& id() const noexcept { return id_; }
  [[nodiscard]] const std::string& context() const noexcept { return context_; }

 private:
  static std::string format(std::string_view id, std::string_view message, std::string_view context) {
    std::string s;
    s.reserve(id.size() + message.size() + context.size() + 8);
    s.append(message);
    if (!context.empty()) s.append(" (").append(context).append(")");
    s.append(" [").append(id).append("]");
    return s;
  }

  std::string id_;
  std::string context_;
};

// Throws bigmodel::error unless cond holds. For validation of inputs, not hot paths.
inline void require(bool cond, std::string_view id, std::string_view message, std::string_view context = {}) {
  if (!cond) throw error(std::string(id), std::string(message), std::string(context));
}

}  // namespace bigmodel
