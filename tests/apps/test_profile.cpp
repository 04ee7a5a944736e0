// vkllm profile: the tables (every op kind, percentages summing to 100), the --json records and
// the Chrome/Perfetto trace (valid JSON, one complete event per dispatch). Format, not speed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "support/cli_runner.h"
#include "support/scratch.h"

using namespace vkllm;
namespace fs = std::filesystem;

namespace {

// A small JSON reader: enough to check that a file is valid JSON and to look at its fields.
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  double num = 0;
  bool b = false;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;
  const Json* get(const std::string& k) const {
    auto it = obj.find(k);
    return it == obj.end() ? nullptr : &it->second;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  // Parses the whole input; throws std::runtime_error on anything that is not one JSON value.
  Json parse() {
    Json v = value();
    ws();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("invalid JSON at ") + std::to_string(i_) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail("unexpected character");
  }
  std::string string() {
    expect('"');
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c == '\\') {
        if (i_ >= s_.size()) fail("bad escape");
        const char e = s_[i_++];
        if (e == 'u') {
          if (i_ + 4 > s_.size()) fail("bad \\u escape");
          i_ += 4;
          c = '?';
        } else if (std::string("\"\\/bfnrt").find(e) != std::string::npos) {
          c = e;
        } else {
          fail("bad escape");
        }
      }
      out += c;
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  Json value() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      v.kind = Json::Object;
      ++i_;
      if (eat('}')) return v;
      do {
        ws();
        std::string k = string();
        expect(':');
        v.obj[k] = value();
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      v.kind = Json::Array;
      ++i_;
      if (eat(']')) return v;
      do v.arr.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Json::String;
      v.str = string();
    } else if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 5, "false") == 0) {
      v.kind = Json::Bool;
      v.b = s_[i_] == 't';
      i_ += v.b ? 4 : 5;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      const size_t start = i_;
      if (s_[i_] == '-') ++i_;
      while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) ||
                                std::string(".eE+-").find(s_[i_]) != std::string::npos))
        ++i_;
      if (i_ == start) fail("unexpected character");
      v.kind = Json::Number;
      try {
        v.num = std::stod(s_.substr(start, i_ - start));
      } catch (const std::exception&) {
        fail("bad number");
      }
    }
    return v;
  }
  const std::string& s_;
  size_t i_ = 0;
};

Json parse_json(const std::string& s) {
  return JsonParser(s).parse();
}

std::vector<std::string> split_cells(const std::string& row) {
  std::vector<std::string> cells;
  std::string cell;
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|') {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
      cell.clear();
    } else {
      cell += row[i];
    }
  }
  return cells;
}

// One markdown table of the output: header cells and rows of cells.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// One "## <step> step (..., N dispatches; ...)" section: its dispatch count and two tables.
struct Section {
  int dispatches = -1;
  std::vector<Table> tables;
};

std::map<std::string, Section> parse_sections(const std::string& out) {
  std::map<std::string, Section> sections;
  Section* cur = nullptr;
  std::istringstream in(out);
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      const std::string name = line.substr(3, line.find(' ', 3) - 3);
      cur = &sections[name];
      const auto d = line.find(" dispatches");
      const auto c = line.rfind(", ", d);
      REQUIRE(d != std::string::npos);
      cur->dispatches = std::stoi(line.substr(c + 2, d - c - 2));
      in_table = false;
    } else if (cur && line.rfind("|", 0) == 0) {
      if (!in_table) {
        cur->tables.push_back({split_cells(line), {}});
        in_table = true;
      } else if (line.rfind("|---", 0) != 0) {
        cur->tables.back().rows.push_back(split_cells(line));
      }
    } else {
      in_table = false;
    }
  }
  return sections;
}

int bench_decode_dispatches() {
  const auto r = test::run_vkllm("bench -p 8 -n 2 -r 1");
  REQUIRE(r.code == 0);
  const auto at = r.out.find("decode step: ");
  REQUIRE(at != std::string::npos);
  return std::stoi(r.out.substr(at + 13));
}

}  // namespace

TEST_CASE("profile: tables cover every op kind, percentages sum to 100, trace has every dispatch") {
  const int decode_dispatches = bench_decode_dispatches();
  const fs::path trace = test::scratch_dir() / "t.json";
  const auto r = test::run_vkllm("profile -p 8 -n 2 --trace " + test::shell_quote(trace.string()));
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("ceilings: copy ") != std::string::npos);
  CHECK(r.out.find("kernels: texel_kernels=") != std::string::npos);
  CHECK(r.out.find("matvec ceiling: 'output' (512 x 64") != std::string::npos);
  CHECK(r.out.find("% of the matvec ceiling") != std::string::npos);
  CHECK(r.out.find(" us per dispatch (") != std::string::npos);
  CHECK(r.out.find("its " + std::to_string(decode_dispatches) + " dispatches at the device's ") !=
        std::string::npos);

  const auto sections = parse_sections(r.out);
  REQUIRE(sections.count("decode"));
  REQUIRE(sections.count("prompt"));
  const Section& decode = sections.at("decode");
  const Section& prompt = sections.at("prompt");
  CHECK(decode.dispatches == decode_dispatches);
  // The prompt step also copies the last token's row before the output projection.
  CHECK(prompt.dispatches == decode_dispatches + 1);

  const std::set<std::string> decode_kinds = {"get_rows",  "rms_norm", "matmul",      "rope_kv",
                                              "attention", "swiglu",   "add_rms_norm"};
  for (const auto& [name, sec] : sections) {
    INFO("step: " << name);
    REQUIRE(sec.tables.size() == 2);
    const Table& ops = sec.tables[0];
    const Table& layers = sec.tables[1];
    CHECK(ops.header.at(0) == "op");
    CHECK(layers.header.at(0) == "layer");
    for (const char* col :
         {"count", "ms", "% of step", "bytes", "FLOPs", "GB/s", "GFLOP/s", "% copy BW", "% FMA"})
      CHECK_MESSAGE(
          std::find(ops.header.begin(), ops.header.end(), std::string(col)) != ops.header.end(),
          col);
    std::set<std::string> kinds;
    for (const Table* t : {&ops, &layers}) {
      double pct = 0;
      int count = 0;
      for (const auto& row : t->rows) {
        REQUIRE(row.size() == t->header.size());
        count += std::stoi(row[1]);
        pct += std::stod(row[3]);
        if (t == &ops) kinds.insert(row[0]);
      }
      CHECK(pct == doctest::Approx(100.0).epsilon(0.01));
      CHECK(count == sec.dispatches);
    }
    auto want = decode_kinds;
    if (name == "prompt") want.insert("copy_bytes");
    if (kinds.count("matmul_swiglu")) {  // gate/up fused with the SwiGLU (texel kernels)
      want.erase("swiglu");
      want.insert("matmul_swiglu");
    }
    if (kinds.count("matmul_rope_kv")) {  // q/k/v fused with RoPE and the KV write (likewise)
      want.erase("rope_kv");
      want.insert("matmul_rope_kv");
    }
    CHECK(kinds == want);
    // One row per layer plus one for the nodes outside them.
    CHECK(layers.rows.size() == 5 + 1);
  }

  // The trace: valid JSON, one complete event per dispatch of one prompt step and two decode steps.
  const Json doc = parse_json(test::slurp(trace));
  REQUIRE(doc.kind == Json::Object);
  const Json* events = doc.get("traceEvents");
  REQUIRE(events);
  REQUIRE(events->kind == Json::Array);
  CHECK(events->arr.size() == size_t(prompt.dispatches + 2 * decode.dispatches));
  double last_end = 0;
  for (const Json& e : events->arr) {
    REQUIRE(e.kind == Json::Object);
    for (const char* f : {"name", "cat", "ph"}) {
      REQUIRE_MESSAGE(e.get(f), f);
      CHECK(e.get(f)->kind == Json::String);
    }
    CHECK(e.get("ph")->str == "X");
    for (const char* f : {"ts", "dur", "pid", "tid"}) {
      REQUIRE_MESSAGE(e.get(f), f);
      CHECK(e.get(f)->kind == Json::Number);
    }
    CHECK(e.get("dur")->num >= 0);
    CHECK(e.get("ts")->num >= last_end - 0.01);  // laid end to end
    last_end = e.get("ts")->num + e.get("dur")->num;
    const Json* args = e.get("args");
    REQUIRE(args);
    for (const char* f : {"layer", "bytes", "flops"}) {
      REQUIRE_MESSAGE(args->get(f), f);
      CHECK(args->get(f)->kind == Json::Number);
    }
  }
  CHECK(events->arr.front().get("name")->str == "embed");
  CHECK(events->arr.back().get("name")->str == "output");
}

TEST_CASE("profile: --json prints one valid record per line") {
  const auto r = test::run_vkllm("profile -p 4 -n 2 --json");
  INFO("stderr: " << r.err);
  REQUIRE(r.code == 0);
  std::istringstream lines(r.out);
  std::string line;
  std::map<std::string, int> records;
  double decode_pct = 0, dispatch_us = 0, decode_dispatches = -1, mc_dispatches = 0,
         mc_dispatch_ms = 0;
  while (std::getline(lines, line)) {
    const Json j = parse_json(line);
    REQUIRE(j.kind == Json::Object);
    REQUIRE(j.get("record"));
    const std::string rec = j.get("record")->str;
    ++records[rec];
    if (rec == "ceilings") {
      CHECK(j.get("copy_gbps")->num > 0);
      CHECK(j.get("fma_gflops")->num > 0);
      REQUIRE(j.get("dispatch_us"));
      dispatch_us = j.get("dispatch_us")->num;
      CHECK(dispatch_us > 0);
      REQUIRE(j.get("kernels"));
      CHECK(j.get("kernels")->str.find("batch_tokens=") != std::string::npos);
    }
    if (rec == "op") {
      for (const char* f : {"kind", "count", "ms", "pct", "bytes", "flops", "gbps", "gflops",
                            "pct_copy_bw", "pct_fma"})
        CHECK_MESSAGE(j.get(f), f);
      if (j.get("step")->str == "decode") decode_pct += j.get("pct")->num;
    }
    if (rec == "matvec_ceiling") {
      // The largest product of the decode step: stories260K's tied output, 512 x 64.
      CHECK(j.get("node")->str == "output");
      CHECK(j.get("M")->num == 512);
      CHECK(j.get("K")->num == 64);
      CHECK(!j.get("kernel")->str.empty());
      for (const char* f :
           {"ms", "gbps", "gflops", "decode_untimed_ms", "decode_gbps", "decode_pct",
            "decode_untimed_mean_ms", "decode_pct_mean", "decode_pct_paired_median", "pairs"}) {
        REQUIRE_MESSAGE(j.get(f), f);
        CHECK_MESSAGE(j.get(f)->num > 0, f);
      }
      CHECK(j.get("pairs")->num == 2);  // one (ceiling, step) pair per untimed step: -n 2
      REQUIRE(j.get("decode_dispatches"));
      REQUIRE(j.get("decode_dispatch_ms"));
      mc_dispatches = j.get("decode_dispatches")->num;
      mc_dispatch_ms = j.get("decode_dispatch_ms")->num;
    }
    if (rec == "step" && j.get("step")->str == "decode")
      decode_dispatches = j.get("dispatches")->num;
  }
  // The decode step's dispatches at the measured cost per dispatch.
  CHECK(mc_dispatches == decode_dispatches);
  CHECK(mc_dispatch_ms == doctest::Approx(decode_dispatches * dispatch_us / 1000.0).epsilon(1e-3));
  CHECK(records["matvec_ceiling"] == 1);
  CHECK(records["ceilings"] == 1);
  CHECK(records["step"] == 2);
  CHECK(records["op"] >= 13);  // 6-8 kinds per step (with fusions into the matrix products)
  CHECK(records["layer"] == 2 * (5 + 1));
  CHECK(decode_pct == doctest::Approx(100.0).epsilon(0.001));
}

TEST_CASE("profile: bad input is a one-line error") {
  test::check_one_line_error(test::run_vkllm("profile -m /nonexistent/model.gguf"),
                             "/nonexistent/model.gguf");
  test::check_one_line_error(test::run_vkllm("profile -p 4 -n 1 --trace /nonexistent/dir/t.json"),
                             "cannot write the trace file");
  test::check_one_line_error(test::run_vkllm("profile -p 0 -n 0"), "nothing to profile");
}
