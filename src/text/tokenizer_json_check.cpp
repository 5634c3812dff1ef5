// See tokenizer_json_check.h. Mirrors tools/xsam_export/tokenizer_json_check.py line for line: the same
// checks in the same order, objects walked in sorted key order, the same words in every message.
#include "text/tokenizer_json_check.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"

namespace xsam {
namespace {

using json = nlohmann::json;

const char* const kSuffix = " (xsam implements Phi-3-mini-4k-instruct's tokenizer.json only; see docs/model-directory.md)";
const char* const kSpace = "\xE2\x96\x81";  // "▁"

struct Refused {
  std::string message;  // "FIELD: what is wrong"
};

[[noreturn]] void refuse(const std::string& path, const std::string& what) { throw Refused{path + ": " + what}; }

std::string kind(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  return v.is_array() ? "array" : "object";
}

std::string quote(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

std::string describe(const json& v) {
  const std::string k = kind(v);
  if (k == "null") return "null";
  if (k == "bool") return v.get<bool>() ? "true" : "false";
  if (k == "number" || k == "string") return v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (k == "array") return "an array of " + std::to_string(v.size());
  auto t = v.find("type");
  return t != v.end() && t->is_string() ? "an object of type " + quote(t->get<std::string>()) : "an object";
}

bool is_int(const json& v) { return v.is_number_integer(); }

void compare(const json& actual, const json& expected, const std::string& path) {
  if (kind(expected) == "object") {
    if (kind(actual) != "object") refuse(path, "expected " + describe(expected) + ", got " + describe(actual));
    std::set<std::string> keys;
    for (auto it = expected.begin(); it != expected.end(); ++it) keys.insert(it.key());
    for (auto it = actual.begin(); it != actual.end(); ++it) keys.insert(it.key());
    for (const std::string& key : keys) {
      const std::string sub = path + "." + key;
      if (!actual.contains(key)) refuse(sub, "missing (expected " + describe(expected.at(key)) + ")");
      if (!expected.contains(key)) refuse(sub, "unexpected field (" + describe(actual.at(key)) + ")");
      compare(actual.at(key), expected.at(key), sub);
    }
  } else if (kind(expected) == "array") {
    if (kind(actual) != "array" || actual.size() != expected.size())
      refuse(path, "expected " + describe(expected) + ", got " + describe(actual));
    for (size_t i = 0; i < actual.size(); ++i) compare(actual[i], expected[i], path + "[" + std::to_string(i) + "]");
  } else if (kind(actual) != kind(expected) || actual != expected) {
    refuse(path, "expected " + describe(expected) + ", got " + describe(actual));
  }
}

const json& normalizer_template() {
  static const json j = {{"type", "Sequence"},
                         {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kSpace}},
                                                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}})}};
  return j;
}

const json& decoder_template() {
  static const json j = {{"type", "Sequence"},
                         {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                                   {{"type", "ByteFallback"}},
                                                   {{"type", "Fuse"}},
                                                   {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  return j;
}

const json& post_processor_template() {
  static const json a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  static const json b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
  static const json j = {{"type", "TemplateProcessing"},
                         {"single", json::array({a})},
                         {"pair", json::array({a, b})},
                         {"special_tokens", json::object()}};
  return j;
}

// ---- tokenizer.model: pieces and scores of the SentencePiece ModelProto (field 1: {piece = 1, score = 2})

struct Pieces {
  std::vector<std::string> text;
  std::vector<float> score;
};

uint64_t varint(const std::string& d, size_t& pos, const std::string& path) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= d.size() || shift > 63) fail(Status::Format, path + ": truncated protobuf varint");
    const auto b = static_cast<unsigned char>(d[pos++]);
    value |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return value;
  }
}

// Calls f(field, wire, payload) for each field of a message (payload: bytes of a length-delimited or
// fixed-width field, empty for varints).
template <class F>
void for_each_field(const std::string& d, const std::string& path, F&& f) {
  size_t pos = 0;
  while (pos < d.size()) {
    const uint64_t key = varint(d, pos, path);
    const uint64_t field = key >> 3, wire = key & 7;
    std::string payload;
    if (wire == 0) {
      varint(d, pos, path);
    } else if (wire == 1 || wire == 5 || wire == 2) {
      const uint64_t n = wire == 1 ? 8 : wire == 5 ? 4 : varint(d, pos, path);
      if (n > d.size() - pos) fail(Status::Format, path + ": not a SentencePiece model (truncated field " + std::to_string(field) + ")");
      payload = d.substr(pos, n);
      pos += n;
    } else {
      fail(Status::Format, path + ": not a SentencePiece model (protobuf wire type " + std::to_string(wire) + ")");
    }
    f(field, wire, payload);
  }
}

Pieces read_pieces(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status::Io, path + ": cannot open the SentencePiece model");
  std::stringstream ss;
  ss << in.rdbuf();
  Pieces p;
  for_each_field(ss.str(), path, [&](uint64_t field, uint64_t wire, const std::string& msg) {
    if (field != 1 || wire != 2) return;
    bool has_text = false;
    std::string text;
    float score = 0.0f;
    for_each_field(msg, path, [&](uint64_t f, uint64_t w, const std::string& v) {
      if (f == 1 && w == 2) {
        text = v;
        has_text = true;
      } else if (f == 2 && w == 5) {
        std::memcpy(&score, v.data(), 4);  // little-endian hosts only, as the rest of xsam
      }
    });
    if (!has_text) fail(Status::Format, path + ": piece " + std::to_string(p.text.size()) + " has no text");
    p.text.push_back(text);
    p.score.push_back(score);
  });
  if (p.text.empty()) fail(Status::Format, path + ": a SentencePiece model with no pieces");
  return p;
}

// ---- the checks, in the order of check_document() in the Python module

void check_model(const json& model, const Pieces& pieces) {
  if (kind(model) != "object") refuse("model", "expected an object of type \"BPE\", got " + describe(model));
  if (!model.contains("type")) refuse("model.type", "missing (expected \"BPE\")");
  compare(model.at("type"), "BPE", "model.type");
  json expected = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
                   {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}};
  if (model.contains("ignore_merges")) expected["ignore_merges"] = false;  // tokenizers >= 0.19 writes it
  json options = json::object();
  for (auto it = model.begin(); it != model.end(); ++it)
    if (it.key() != "vocab" && it.key() != "merges") options[it.key()] = it.value();
  compare(options, expected, "model");
  for (const char* key : {"vocab", "merges"})
    if (!model.contains(key)) refuse(std::string("model.") + key, "missing");
  const json& vocab = model.at("vocab");
  if (kind(vocab) != "object") refuse("model.vocab", "expected an object, got " + describe(vocab));
  if (vocab.size() != pieces.text.size())
    refuse("model.vocab", "expected " + std::to_string(pieces.text.size()) + " entries (the pieces of tokenizer.model), got " +
                              std::to_string(vocab.size()));
  for (size_t i = 0; i < pieces.text.size(); ++i) {
    const std::string& piece = pieces.text[i];
    auto it = vocab.find(piece);
    if (it == vocab.end())
      refuse("model.vocab", "piece " + quote(piece) + " (id " + std::to_string(i) + " of tokenizer.model) is missing");
    if (!is_int(*it) || it->get<int64_t>() != static_cast<int64_t>(i))
      refuse("model.vocab[" + quote(piece) + "]", "expected " + std::to_string(i) + " (its id in tokenizer.model), got " + describe(*it));
  }
  const json& merges = model.at("merges");
  if (kind(merges) != "array") refuse("model.merges", "expected an array, got " + describe(merges));
  bool have_previous = false;
  float previous = 0.0f;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    const std::string path = "model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (m.is_string() && std::count(m.get_ref<const std::string&>().begin(), m.get_ref<const std::string&>().end(), ' ') == 1 &&
        m.get_ref<const std::string&>().front() != ' ' && m.get_ref<const std::string&>().back() != ' ') {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string() && !m[0].get_ref<const std::string&>().empty() &&
               !m[1].get_ref<const std::string&>().empty()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      refuse(path, "expected \"A B\" or [\"A\", \"B\"], got " + describe(m));
    }
    for (const std::string& part : {a, b, a + b})
      if (!vocab.contains(part)) refuse(path, quote(part) + " is not in model.vocab");
    const float score = pieces.score[static_cast<size_t>(vocab.at(a + b).get<int64_t>())];
    if (have_previous && score > previous)
      refuse(path, "out of order: the score of " + quote(a + b) + " in tokenizer.model is higher than that of the merge before it");
    previous = score;
    have_previous = true;
  }
}

void check_added_tokens(const json& added, const AddedTokenTable& table) {
  static const std::set<std::string> kFields{"content", "id", "lstrip", "normalized", "rstrip", "single_word", "special"};
  if (kind(added) != "array") refuse("added_tokens", "expected an array, got " + describe(added));
  for (size_t i = 0; i < added.size(); ++i) {
    const json& e = added[i];
    const std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (kind(e) != "object") refuse(path, "expected an object, got " + describe(e));
    std::set<std::string> keys(kFields);
    for (auto it = e.begin(); it != e.end(); ++it) keys.insert(it.key());
    for (const std::string& key : keys) {
      if (!e.contains(key)) refuse(path + "." + key, "missing");
      if (!kFields.count(key)) refuse(path + "." + key, "unexpected field (" + describe(e.at(key)) + ")");
    }
    if (!is_int(e.at("id"))) refuse(path + ".id", "expected an integer, got " + describe(e.at("id")));
    if (!e.at("content").is_string()) refuse(path + ".content", "expected a string, got " + describe(e.at("content")));
    for (const char* flag : {"lstrip", "normalized", "rstrip", "single_word", "special"})
      if (!e.at(flag).is_boolean()) refuse(path + "." + flag, "expected true or false, got " + describe(e.at(flag)));
    for (const char* flag : {"normalized", "single_word"})
      if (e.at(flag).get<bool>()) refuse(path + "." + flag, "expected false, got true (not implemented)");
    const int64_t id = e.at("id").get<int64_t>();
    const std::string content = e.at("content").get<std::string>();
    const AddedToken* known = table.find_id(id);
    if (!known) refuse(path, "id " + std::to_string(id) + " (" + quote(content) + ") is not an added token of the tokenizer");
    if (known->content != content)
      refuse(path + ".content", "expected " + quote(known->content) + " (the added token with id " + std::to_string(id) +
                                    "), got " + quote(content));
    const std::pair<const char*, bool> flags[] = {{"lstrip", known->lstrip}, {"rstrip", known->rstrip}, {"special", known->special}};
    for (const auto& [flag, value] : flags)
      if (e.at(flag).get<bool>() != value)
        refuse(path + "." + flag, std::string("expected ") + (value ? "true" : "false") + " (the flag of " + quote(known->content) +
                                      " in the added-token table), got " + (value ? "false" : "true"));
  }
}

void check_document(const json& doc, const Pieces& pieces, const AddedTokenTable& table) {
  static const std::vector<std::string> kTop{"version", "truncation", "padding", "normalizer", "pre_tokenizer",
                                             "model", "decoder", "post_processor", "added_tokens"};
  if (kind(doc) != "object") refuse("tokenizer.json", "expected an object, got " + describe(doc));
  std::set<std::string> keys(kTop.begin(), kTop.end());
  for (auto it = doc.begin(); it != doc.end(); ++it) keys.insert(it.key());
  for (const std::string& key : keys) {
    if (!doc.contains(key)) refuse(key, "missing");
    if (std::find(kTop.begin(), kTop.end(), key) == kTop.end()) refuse(key, "unexpected field (" + describe(doc.at(key)) + ")");
  }
  compare(doc.at("version"), "1.0", "version");
  compare(doc.at("truncation"), nullptr, "truncation");
  compare(doc.at("padding"), nullptr, "padding");
  compare(doc.at("normalizer"), normalizer_template(), "normalizer");
  compare(doc.at("pre_tokenizer"), nullptr, "pre_tokenizer");
  check_model(doc.at("model"), pieces);
  compare(doc.at("decoder"), decoder_template(), "decoder");
  if (!doc.at("post_processor").is_null()) compare(doc.at("post_processor"), post_processor_template(), "post_processor");
  check_added_tokens(doc.at("added_tokens"), table);
}

}  // namespace

void check_tokenizer_json(const std::string& dir, const Tokenizer& tok) {
  const std::string path = dir + "/tokenizer.json";
  if (!expect_regular_file(path)) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status::Io, path + ": cannot open");
  json doc;
  try {
    in >> doc;
  } catch (const std::exception& e) {
    fail(Status::Format, path + ": cannot read JSON (" + e.what() + ")");
  }
  const Pieces pieces = read_pieces(dir + "/tokenizer.model");
  try {
    check_document(doc, pieces, tok.added_tokens());
  } catch (const Refused& r) {
    fail(Status::Format, path + ": " + r.message + kSuffix);
  }
}

}  // namespace xsam
