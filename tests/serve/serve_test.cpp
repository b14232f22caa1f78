// bigmodel-serve over real HTTP on loopback (httplib::Client, no mocks): health, metadata, inference on the
// digits MLP compared bit for bit with the same session run directly and with PyTorch's logits, concurrent
// clients, and every client mistake answered with the right status while the server keeps serving.

#include <catch2/catch.hpp>

#include <bigmodel/io/npy.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bigmodel-opt/tensors.hpp"
#include "bigmodel-serve/server.hpp"

namespace fs = std::filesystem;
using bigmodel::dynamic_tensor;
namespace json = serve::json;

namespace {

fs::path fixtures() {
  const char* src = std::getenv("BIGMODEL_SOURCE_DIR");
  return fs::path(src ? src : ".") / "tests" / "fixtures";
}
fs::path mlp_model() { return fixtures() / "digits_mlp" / "digits_mlp.opset13.onnx"; }
dynamic_tensor npy(const std::string& file) { return cli::to_tensor(bigmodel::io::read_npy(fixtures() / "digits_mlp" / file)); }

dynamic_tensor rows_of(const dynamic_tensor& x, std::int64_t first, std::int64_t count) {
  const auto cols = x.dim(1);
  const auto s = x.span<float>().subspan(static_cast<std::size_t>(first * cols), static_cast<std::size_t>(count * cols));
  return dynamic_tensor::from<float>({count, cols}, std::vector<float>(s.begin(), s.end()));
}

// An infer request for a [rows, cols] f32 tensor; nested = data as rows of arrays.
std::string infer_body(const dynamic_tensor& x, bool nested, const std::string& extra = "") {
  std::string b = R"({"inputs":[{"name":"input","datatype":"FP32","shape":[)" + std::to_string(x.dim(0)) + "," +
                  std::to_string(x.dim(1)) + R"(],"data":[)";
  const auto v = x.span<float>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const bool row_start = i % static_cast<std::size_t>(x.dim(1)) == 0;
    if (i) b += row_start && nested ? "],[" : ",";
    else if (nested) b += "[";
    json::write_number(b, v[i]);
  }
  return b + (nested ? "]" : "") + "]}]" + extra + "}";
}

struct client_reply {
  int status = -1;
  std::string body;
};

client_reply get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  const auto r = c.Get(path.c_str());
  return r ? client_reply{r->status, r->body} : client_reply{};
}
client_reply post(int port, const std::string& path, const std::string& body) {
  httplib::Client c("127.0.0.1", port);
  const auto r = c.Post(path.c_str(), body, "application/json");
  return r ? client_reply{r->status, r->body} : client_reply{};
}

// The "logits" output of an infer reply, parsed exactly.
std::vector<float> logits_of(const std::string& body, std::vector<std::int64_t>* shape = nullptr) {
  const auto v = json::reader::parse(body);
  REQUIRE(v.find("model_name"));
  CHECK(v.find("model_name")->text() == "mlp");
  const auto& outs = v.find("outputs")->items();
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].find("name")->text() == "logits");
  CHECK(outs[0].find("datatype")->text() == "FP32");
  if (shape) {
    shape->clear();
    for (auto d : outs[0].find("shape")->numbers()) {
      std::int64_t n = 0;
      REQUIRE(json::to_integer(d, n));
      shape->push_back(n);
    }
  }
  std::vector<float> out;
  for (auto t : outs[0].find("data")->numbers()) {
    float f = 0;
    REQUIRE(json::to_floating(t, f));
    out.push_back(f);
  }
  return out;
}

std::vector<float> direct_logits(const dynamic_tensor& x) {
  bigmodel::session s(bigmodel::io::load_onnx(mlp_model()));
  const auto outputs = s.run({{"input", x}});
  const auto y = outputs["logits"].span<float>();
  return {y.begin(), y.end()};
}

serve::server_options mlp_options() {
  serve::server_options o;
  o.models = {{"mlp", mlp_model()}};
  o.port = 0;
  o.sessions = 2;
  o.max_request_bytes = 1u << 20;
  return o;
}

}  // namespace

TEST_CASE("serve: health, server and model metadata", "[serve]") {
  serve::server s(mlp_options());
  const int port = s.start();
  REQUIRE(port > 0);
  CHECK(get(port, "/v2/health/live").status == 200);
  const auto ready = get(port, "/v2/health/ready");
  CHECK(ready.status == 200);
  CHECK(json::reader::parse(ready.body).find("ready")->boolean());
  CHECK(get(port, "/v2/models/mlp/ready").status == 200);
  CHECK(json::reader::parse(get(port, "/v2").body).find("name")->text() == "bigmodel-serve");

  const auto meta = get(port, "/v2/models/mlp");
  REQUIRE(meta.status == 200);
  const auto m = json::reader::parse(meta.body);
  CHECK(m.find("name")->text() == "mlp");
  CHECK(m.find("platform")->text() == "bigmodel_onnx");
  const auto& in = m.find("inputs")->items();
  REQUIRE(in.size() == 1);
  CHECK(in[0].find("name")->text() == "input");
  CHECK(in[0].find("datatype")->text() == "FP32");
  const auto& in_shape = in[0].find("shape")->numbers();
  REQUIRE(in_shape.size() == 2);
  CHECK(in_shape[0] == "-1");  // the batch axis is dynamic in the fixture
  CHECK(in_shape[1] == "64");
  const auto& out = m.find("outputs")->items();
  REQUIRE(out.size() == 1);
  CHECK(out[0].find("name")->text() == "logits");
  CHECK(out[0].find("datatype")->text() == "FP32");
  CHECK(out[0].find("shape")->numbers().back() == "10");
  s.stop();
  CHECK_FALSE(get(port, "/v2/health/live").status == 200);  // stopped: nobody answers
}

TEST_CASE("serve: infer equals the session run directly, and PyTorch within tolerance", "[serve]") {
  serve::server s(mlp_options());
  const int port = s.start();
  const auto x = npy("x_test.npy");
  const auto expected = direct_logits(x);
  for (const bool nested : {false, true}) {
    const auto r = post(port, "/v2/models/mlp/infer", infer_body(x, nested));
    REQUIRE(r.status == 200);
    std::vector<std::int64_t> shape;
    const auto got = logits_of(r.body, &shape);
    CHECK(shape == std::vector<std::int64_t>{x.dim(0), 10});
    REQUIRE(got.size() == expected.size());
    CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);  // same code path, same bits
  }
  // PyTorch's logits for the same inputs (an independent implementation).
  const auto torch_logits = npy("logits_fp32.npy");
  const auto torch = torch_logits.span<float>();
  const auto got = logits_of(post(port, "/v2/models/mlp/infer", infer_body(x, false)).body);
  REQUIRE(got.size() == torch.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - torch[i]) / std::max(1.0, std::fabs(double(torch[i]))));
  CHECK(worst < 1e-4);

  // Asking for the output by name, with an id that comes back.
  const auto named = post(port, "/v2/models/mlp/infer", infer_body(rows_of(x, 0, 1), true, R"(,"id":"r1","outputs":[{"name":"logits"}])"));
  REQUIRE(named.status == 200);
  CHECK(json::reader::parse(named.body).find("id")->text() == "r1");
  CHECK(logits_of(named.body) == direct_logits(rows_of(x, 0, 1)));
}

TEST_CASE("serve: concurrent clients all get their own correct answers", "[serve]") {
  serve::server s(mlp_options());  // 2 sessions: requests beyond that wait for a free one
  const int port = s.start();
  const auto x = npy("x_test.npy");
  constexpr int clients = 6, requests = 4, rows = 7;
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < clients * requests; ++i) expected.push_back(direct_logits(rows_of(x, i * rows, rows)));
  std::atomic<int> correct{0}, failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);  // one keep-alive connection per client
      client.set_keep_alive(true);
      for (int r = 0; r < requests; ++r) {
        const int i = c * requests + r;
        const auto res = client.Post("/v2/models/mlp/infer", infer_body(rows_of(x, i * rows, rows), r % 2 == 0), "application/json");
        if (!res || res->status != 200) {
          ++failed;
          continue;
        }
        // Parse without Catch2 macros: they are not thread-safe.
        const auto v = json::reader::parse(res->body);
        std::vector<float> got;
        for (auto t : v.find("outputs")->items()[0].find("data")->numbers()) {
          float f = 0;
          (void)json::to_floating(t, f);
          got.push_back(f);
        }
        (got == expected[static_cast<std::size_t>(i)] ? correct : failed)++;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(correct == clients * requests);
}

TEST_CASE("serve: client mistakes get 4xx with a JSON error and the server keeps serving", "[serve]") {
  serve::server s(mlp_options());
  const int port = s.start();
  const auto x1 = rows_of(npy("x_test.npy"), 0, 1);
  const std::string good = infer_body(x1, false);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string b = good;
    const auto at = b.find(from);
    REQUIRE(at != std::string::npos);
    return b.replace(at, from.size(), to);
  };
  const std::string row63 = [&] {
    std::string d;
    for (int i = 0; i < 63; ++i) d += (i ? ",0" : "0");
    return d;
  }();
  struct mistake {
    const char* what;
    std::string path, body;
    int status;
    const char* message;
  };
  const std::vector<mistake> mistakes = {
      {"empty body", "/v2/models/mlp/infer", "", 400, "malformed JSON"},
      {"not JSON", "/v2/models/mlp/infer", "inputs=1", 400, "malformed JSON"},
      {"truncated", "/v2/models/mlp/infer", good.substr(0, good.size() / 2), 400, "malformed JSON"},
      {"trailing comma", "/v2/models/mlp/infer", with("]}]}", "],}]}"), 400, "malformed JSON"},
      {"trailing garbage", "/v2/models/mlp/infer", good + "x", 400, "after the JSON value"},
      {"duplicate key", "/v2/models/mlp/infer", with(R"("name":"input")", R"("name":"input","name":"input")"), 400, "duplicate key"},
      {"deep nesting", "/v2/models/mlp/infer", std::string(10000, '[') + std::string(10000, ']'), 400, "nesting deeper"},
      {"not an object", "/v2/models/mlp/infer", "[1,2]", 400, "must be a JSON object"},
      {"no inputs", "/v2/models/mlp/infer", "{}", 400, "\"inputs\" must be an array"},
      {"missing input", "/v2/models/mlp/infer", R"({"inputs":[]})", 400, "input 'input' is missing"},
      {"unknown input", "/v2/models/mlp/infer", with(R"("name":"input")", R"("name":"pixels")"), 400, "has no input 'pixels'"},
      {"wrong datatype", "/v2/models/mlp/infer", with("FP32", "INT64"), 400, "INT64"},
      {"float data for an integer type", "/v2/models/mlp/infer",
       R"({"inputs":[{"name":"input","datatype":"INT64","shape":[1,64],"data":[0.5,)" + row63 + "]}]}", 400, "0.5 is not an integer"},
      {"wrong datatype, integer data", "/v2/models/mlp/infer",
       R"({"inputs":[{"name":"input","datatype":"INT64","shape":[1,64],"data":[)" + row63 + R"(,1]}]})", 400, "the model expects FP32"},
      {"unknown datatype", "/v2/models/mlp/infer", with("FP32", "FLOAT"), 400, "unknown datatype"},
      {"wrong shape", "/v2/models/mlp/infer",
       R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1,63],"data":[)" + row63 + "]}]}", 400, "the model expects [-1, 64]"},
      {"count mismatch", "/v2/models/mlp/infer", with("[1,64]", "[2,64]"), 400, "holds 128 elements but \"data\" has 64"},
      {"negative dim", "/v2/models/mlp/infer", with("[1,64]", "[-1,64]"), 400, "not a non-negative integer"},
      {"string in data", "/v2/models/mlp/infer",
       R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1,64],"data":["a",)" + row63 + "]}]}", 400, "must hold numbers"},
      {"number out of range", "/v2/models/mlp/infer",
       R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1,64],"data":[1e999,)" + row63 + "]}]}", 400, "1e999 is out of range for FP32"},
      {"unknown output", "/v2/models/mlp/infer", good.substr(0, good.size() - 1) + R"(,"outputs":[{"name":"probs"}]})", 400,
       "has no output 'probs'"},
      {"unknown model (infer)", "/v2/models/resnet/infer", good, 404, "unknown model 'resnet'"},
      {"unknown model (metadata)", "/v2/models/resnet", "", 404, "unknown model 'resnet'"},
      {"unknown route", "/v3/whatever", "", 404, "not found"},
      {"too large", "/v2/models/mlp/infer", std::string(2u << 20, ' '), 413, "too large"},
  };
  for (const auto& m : mistakes) {
    INFO(m.what);
    const bool is_get = m.path == "/v2/models/resnet" || m.path == "/v3/whatever";
    const auto r = is_get ? get(port, m.path) : post(port, m.path, m.body);
    CHECK(r.status == m.status);
    json::value v;
    REQUIRE_NOTHROW(v = json::reader::parse(r.body));
    REQUIRE(v.find("error"));
    INFO(r.body);
    CHECK(v.find("error")->text().find(m.message) != std::string_view::npos);
    // Still serving, and still right.
    CHECK(get(port, "/v2/health/live").status == 200);
  }
  const auto after = post(port, "/v2/models/mlp/infer", good);
  REQUIRE(after.status == 200);
  CHECK(logits_of(after.body) == direct_logits(x1));
}

TEST_CASE("serve: bad configuration is refused with a clear error", "[serve]") {
  auto o = mlp_options();
  o.models = {{"m", fixtures() / "no_such_model.onnx"}};
  CHECK_THROWS(serve::server(o));
  o.models = {{"m", mlp_model()}, {"m", mlp_model()}};
  CHECK_THROWS_WITH(serve::server(o), Catch::Contains("given twice"));
  o.models = {{"a/b", mlp_model()}};
  CHECK_THROWS_WITH(serve::server(o), Catch::Contains("no '/'"));
}

TEST_CASE("serve: JSON reader is strict and numbers are exact", "[serve][json]") {
  CHECK_THROWS_AS(json::reader::parse("01"), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("1."), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("\"a\x01\""), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("\"\\ud800\""), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("\"\xC0\xAF\""), json::parse_error);  // overlong UTF-8
  CHECK_THROWS_AS(json::reader::parse("[1,]"), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("{\"a\":1,}"), json::parse_error);
  CHECK_THROWS_AS(json::reader::parse("nul"), json::parse_error);
  CHECK(json::reader::parse(R"("\u00e9\ud83d\ude00")").text() == "\xC3\xA9\xF0\x9F\x98\x80");
  const auto mixed = json::reader::parse(R"([1, [2, 3], true])");
  REQUIRE(mixed.items().size() == 3);
  CHECK(mixed.items()[0].text() == "1");
  std::int64_t big = 0;
  CHECK(json::to_integer("9223372036854775807", big));
  CHECK(big == INT64_MAX);
  CHECK_FALSE(json::to_integer("9223372036854775808", big));
  float f = 1;
  CHECK(json::to_floating("1e-60", f));
  CHECK((f == 0.0f && !std::signbit(f)));
  CHECK_FALSE(json::to_floating("1e60", f));
  CHECK(json::to_floating("0.1", f));
  CHECK(f == 0.1f);
  std::string s;
  json::write_number(s, 0.1f);
  CHECK(s == "0.1");
}
