#pragma once
// A small command-line parser: `bigmodel-opt SUBCOMMAND [positional...] [--flag] [--key VALUE | --key=VALUE]...`.
// Options may repeat (--input a=x.npy --input b=y.npy). Unknown options are errors, so typos are caught.

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct option_spec {
  std::string name;   // without dashes
  bool takes_value;
};

class args {
 public:
  args(const std::vector<std::string>& argv, const std::vector<option_spec>& spec) {
    std::map<std::string, bool, std::less<>> known;
    for (const auto& o : spec) known[o.name] = o.takes_value;
    for (std::size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.size() > 1 && a[0] == '-' && a != "-") {
        std::string key = a.substr(a[1] == '-' ? 2 : 1), value;
        const auto eq = key.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
          value = key.substr(eq + 1);
          key = key.substr(0, eq);
        }
        if (key == "o") key = "output";
        if (key == "h") key = "help";
        const auto it = known.find(key);
        if (it == known.end()) throw usage_error("unknown option '" + a + "'");
        if (it->second && !inline_value) {
          if (i + 1 >= argv.size()) throw usage_error("option --" + key + " needs a value");
          value = argv[++i];
        } else if (!it->second && inline_value) {
          throw usage_error("option --" + key + " takes no value");
        }
        options_[key].push_back(value);
      } else {
        positional_.push_back(a);
      }
    }
  }

  [[nodiscard]] bool has(std::string_view key) const { return options_.find(key) != options_.end(); }
  [[nodiscard]] std::string get(std::string_view key, std::string fallback = {}) const {
    const auto it = options_.find(key);
    return it == options_.end() ? fallback : it->second.back();
  }
  [[nodiscard]] std::vector<std::string> all(std::string_view key) const {
    const auto it = options_.find(key);
    return it == options_.end() ? std::vector<std::string>{} : it->second;
  }
  [[nodiscard]] const std::vector<std::string>& positional() const { return positional_; }
  [[nodiscard]] long get_int(std::string_view key, long fallback) const {
    if (!has(key)) return fallback;
    const std::string v = get(key);
    std::size_t used = 0;
    long r = 0;
    try {
      r = std::stol(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || v.empty()) throw usage_error("option --" + std::string(key) + " needs an integer, got '" + v + "'");
    return r;
  }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> options_;
  std::vector<std::string> positional_;
};

}  // namespace cli
