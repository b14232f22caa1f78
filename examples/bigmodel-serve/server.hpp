#pragma once
// bigmodel-serve's core: ONNX models served over HTTP with the Open Inference Protocol (KServe v2) REST
// subset. main.cpp wraps it in a command line; tests/serve instantiates it directly.
//
//   serve::server s({.models = {{"mlp", "mlp.onnx"}}, .port = 0});
//   const int port = s.start();   // listening in the background (port 0: a free port was picked)
//   ...
//   s.stop();                     // or the destructor
//
// Routes: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready;
// POST /v2/models/{name}/infer. Client mistakes get 4xx with {"error": "..."}; the server keeps serving.

#include <bigmodel/core/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model_pool.hpp"
#include "tensor_json.hpp"

// After the library (Eigen): httplib includes <resolv.h>, whose `_res` macro breaks Eigen's GEMM headers.
#include <httplib.h>

namespace serve {

struct server_options {
  std::vector<std::pair<std::string, std::filesystem::path>> models;  // name -> ONNX file
  std::string host = "127.0.0.1";
  int port = 8000;                              // 0: pick a free port
  std::size_t sessions = 2;                     // per model: requests of one model running at once
  std::size_t max_request_bytes = 64u << 20;    // larger bodies get 413
  std::size_t http_threads = 8;                 // connections served at once
};

class server {
 public:
  // Loads every model (throws bigmodel::error naming the file when one cannot be loaded or run).
  explicit server(server_options opt) : opt_(std::move(opt)) {
    if (opt_.models.empty()) throw std::invalid_argument("no model to serve");
    for (const auto& [name, path] : opt_.models) {
      if (name.empty() || name.find('/') != std::string::npos)
        throw std::invalid_argument("model name '" + name + "' must be non-empty and contain no '/'");
      if (models_.count(name)) throw std::invalid_argument("model name '" + name + "' given twice");
      models_.emplace(name, std::make_unique<model_pool>(name, path, opt_.sessions));
    }
    routes();
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() { stop(); }

  // Binds and starts serving on a background thread; returns the port.
  int start() {
    port_ = opt_.port == 0 ? http_.bind_to_any_port(opt_.host) : (http_.bind_to_port(opt_.host, opt_.port) ? opt_.port : -1);
    if (port_ < 0) throw std::runtime_error("cannot listen on " + opt_.host + ":" + std::to_string(opt_.port));
    ready_ = true;
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    // stop() is a no-op until the listener runs: wait for it so start() then stop() never hangs.
    for (int i = 0; i < 5000 && !http_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!http_.is_running()) {
      thread_.join();  // listen_after_bind gave up
      throw std::runtime_error("cannot serve on " + opt_.host + ":" + std::to_string(port_));
    }
    return port_;
  }

  // Stops accepting, lets running requests finish, joins the threads. Safe to call twice.
  void stop() {
    ready_ = false;
    if (thread_.joinable()) {
      http_.stop();
      thread_.join();
    }
  }

  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  static void reply(httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_content(body, "application/json");
  }
  static void reply_error(httplib::Response& res, int status, const std::string& message) {
    reply(res, status, "{\"error\":" + json::quote(message) + "}");
  }

  model_pool& model(const std::string& name) {
    const auto it = models_.find(name);
    if (it == models_.end()) throw request_error(404, "unknown model '" + name + "'");
    return *it->second;
  }

  // Runs a handler; client mistakes and library errors become JSON error replies, never a crash.
  template <class F>
  static void guarded(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const request_error& e) {
      reply_error(res, e.status, e.what());
    } catch (const json::parse_error& e) {
      reply_error(res, 400, e.what());
    } catch (const bigmodel::error& e) {
      reply_error(res, 400, std::string("inference failed: ") + e.what());
    } catch (const std::bad_alloc&) {
      reply_error(res, 507, "out of memory");
    } catch (const std::exception& e) {
      reply_error(res, 500, e.what());
    }
  }

  void routes() {
    http_.set_payload_max_length(opt_.max_request_bytes);
    const std::size_t threads = std::max<std::size_t>(opt_.http_threads, 1);
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    // Replies httplib makes itself (404 for unknown paths, 413 for large bodies, 400 for bad HTTP) get a
    // JSON body too.
    http_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const std::string what = res.status == 413 ? "request body too large" : res.status == 404 ? "not found" : "bad request";
      reply_error(res, res.status, what);
      return httplib::Server::HandlerResponse::Handled;
    }));

    http_.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, R"({"name":"bigmodel-serve","version":"0.1.0","extensions":[]})");
    });
    http_.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { reply(res, 200, R"({"live":true})"); });
    http_.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      reply(res, ready_ ? 200 : 503, ready_ ? R"({"ready":true})" : R"({"ready":false})");
    });
    http_.Get(R"(/v2/models/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { reply(res, 200, metadata_json(model(req.matches[1]))); });
    });
    http_.Get(R"(/v2/models/([^/]+)/ready)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        const auto& m = model(req.matches[1]);
        reply(res, 200, "{\"name\":" + json::quote(m.name()) + ",\"ready\":" + (ready_ ? "true" : "false") + "}");
      });
    });
    http_.Post(R"(/v2/models/([^/]+)/infer)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        auto& m = model(req.matches[1]);
        if (req.body.size() > opt_.max_request_bytes) throw request_error(413, "request body too large");
        reply(res, 200, infer(m, req.body));
      });
    });
  }

  static void metadata_list(std::string& out, const std::vector<tensor_metadata>& ts) {
    out += '[';
    for (std::size_t i = 0; i < ts.size(); ++i) {
      if (i) out += ',';
      out += "{\"name\":" + json::quote(ts[i].name) + ",\"datatype\":" + json::quote(datatype_of(ts[i].type)) + ",\"shape\":[";
      for (std::size_t d = 0; d < ts[i].shape.size(); ++d) out += (d ? "," : "") + std::to_string(ts[i].shape[d]);
      out += "]}";
    }
    out += ']';
  }

  static std::string metadata_json(const model_pool& m) {
    std::string out = "{\"name\":" + json::quote(m.name()) + ",\"versions\":[\"1\"],\"platform\":\"bigmodel_onnx\",\"inputs\":";
    metadata_list(out, m.inputs());
    out += ",\"outputs\":";
    metadata_list(out, m.outputs());
    return out + "}";
  }

  // Checks an input against the model's declaration: datatype, rank and every static dimension.
  static void check_against(const tensor_metadata& decl, const bigmodel::dynamic_tensor& t) {
    const std::string where = "input '" + decl.name + "'";
    if (decl.type != bigmodel::dtype::undefined && t.type() != decl.type)
      throw request_error(400, where + ": datatype " + std::string(datatype_of(t.type())) + ", the model expects " +
                                   std::string(datatype_of(decl.type)));
    if (!decl.rank_known) return;
    bool ok = decl.shape.size() == t.rank();
    for (std::size_t d = 0; ok && d < t.rank(); ++d) ok = decl.shape[d] < 0 || decl.shape[d] == t.dim(d);
    if (!ok) {
      std::string want = "[";
      for (std::size_t d = 0; d < decl.shape.size(); ++d) want += (d ? ", " : "") + std::to_string(decl.shape[d]);
      throw request_error(400, where + ": shape " + bigmodel::to_string(t.shape()) + ", the model expects " + want +
                                   "] (-1: any size)");
    }
  }

  static std::string infer(model_pool& m, const std::string& body) {
    const json::value req = json::reader::parse(body);
    if (!req.is(json::kind::object)) throw request_error(400, "the request must be a JSON object");
    const json::value* inputs = req.find("inputs");
    if (!inputs || !inputs->is(json::kind::array) || (inputs->size() > 0 && inputs->numbers_only()))
      throw request_error(400, "\"inputs\" must be an array of tensors");
    bigmodel::named_tensors feeds;
    std::vector<std::string> seen;
    for (const auto& item : inputs->items()) {
      const json::value* name = item.is(json::kind::object) ? item.find("name") : nullptr;
      if (!name || !name->is(json::kind::string)) throw request_error(400, "every input needs a string \"name\"");
      const std::string n(name->text());
      const tensor_metadata* decl = nullptr;
      for (const auto& d : m.inputs()) decl = d.name == n ? &d : decl;
      if (!decl) throw request_error(400, "model '" + m.name() + "' has no input '" + n + "'");
      for (const auto& s : seen)
        if (s == n) throw request_error(400, "input '" + n + "' given twice");
      seen.push_back(n);
      auto t = tensor_from_json(item, "input '" + n + "'");
      check_against(*decl, t);
      feeds.emplace(n, std::move(t));
    }
    for (const auto& d : m.inputs()) {
      bool given = false;
      for (const auto& s : seen) given = given || s == d.name;
      if (!given) throw request_error(400, "input '" + d.name + "' is missing");
    }
    const std::vector<std::string> wanted = requested_outputs(req, m);

    bigmodel::named_tensors results;
    {
      auto session = m.acquire();
      results = session->run(feeds);
    }
    std::string out = "{\"model_name\":" + json::quote(m.name());
    if (const json::value* id = req.find("id"); id && id->is(json::kind::string)) out += ",\"id\":" + json::quote(id->text());
    out += ",\"outputs\":[";
    bool first = true;
    for (const auto& [name, t] : results) {
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
      if (!first) out += ',';
      first = false;
      tensor_to_json(out, name, t);
    }
    return out + "]}";
  }

  // The "outputs" the request asks for (empty: all of them).
  static std::vector<std::string> requested_outputs(const json::value& req, const model_pool& m) {
    std::vector<std::string> wanted;
    const json::value* outputs = req.find("outputs");
    if (!outputs) return wanted;
    if (!outputs->is(json::kind::array) || (outputs->size() > 0 && outputs->numbers_only()))
      throw request_error(400, "\"outputs\" must be an array of {\"name\": ...}");
    for (const auto& o : outputs->items()) {
      const json::value* name = o.is(json::kind::object) ? o.find("name") : nullptr;
      if (!name || !name->is(json::kind::string)) throw request_error(400, "every requested output needs a string \"name\"");
      bool known = false;
      for (const auto& d : m.outputs()) known = known || d.name == name->text();
      if (!known) throw request_error(400, "model '" + m.name() + "' has no output '" + std::string(name->text()) + "'");
      wanted.emplace_back(name->text());
    }
    return wanted;
  }

  server_options opt_;
  std::map<std::string, std::unique_ptr<model_pool>> models_;
  httplib::Server http_;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  int port_ = -1;
};

}  // namespace serve
