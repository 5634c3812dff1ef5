#include "text/tokenizer_added_tokens.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "core/json_fields.h"

namespace xsam {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "xsam-added-tokens";
constexpr int kFormatVersion = 1;

bool file_exists(const std::string& path) { return file_kind(path) != FileKind::Missing; }

json read_json_file(const std::string& path) {
  const std::string text = read_regular_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(Status::Format, path + ": not valid JSON: " + e.what());
  }
}

// HF writes a special token as a plain string, as null, or as an AddedToken object {"content": ...}.
std::string token_content(const json& v, const std::string& where) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string()) return v.at("content").get<std::string>();
  fail(Status::Format, where + ": must be a string, null or an object with \"content\"");
}

bool optional_bool(const Fields& f, const std::string& key, bool fallback) {
  return f.is_null(key) ? fallback : f.boolean(key);
}

// {content: id} maps (HF added_tokens.json, golden xsam_added_tokens.json).
std::map<std::string, int64_t> read_content_id_map(const json& j, const std::string& source) {
  if (!j.is_object()) fail(Status::Format, source + ": must be a JSON object {content: id}");
  std::map<std::string, int64_t> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_number_integer() || it->get<long long>() < 0)
      fail(Status::Format, source + ": " + it.key() + ": id must be a non-negative integer");
    out[it.key()] = it->get<int64_t>();
  }
  return out;
}

AddedToken token_from_xsam_json(const json& e, const std::string& where) {
  Fields f(e, where);
  AddedToken t;
  long long id = f.integer("id");
  if (id < 0) fail(Status::Format, f.path("id") + ": must be non-negative");
  t.id = id;
  t.content = f.str("content");
  if (t.content.empty()) fail(Status::Format, f.path("content") + ": must not be empty");
  t.lstrip = f.boolean("lstrip");
  t.rstrip = f.boolean("rstrip");
  t.normalized = f.boolean("normalized");
  t.special = f.boolean("special");
  t.all_special = f.boolean("all_special");
  return t;
}

// Layout (b): tokenizer_config.json (+ special_tokens_map.json, added_tokens.json, xsam_added_tokens.json).
AddedTokenTable read_hf_layout(const std::string& dir) {
  const std::string config_path = dir + "/tokenizer_config.json";
  if (!file_exists(config_path))
    fail(Status::Io, dir + ": no tokenizer description: expected added_tokens.json in the xsam format (\"format\": \"" +
                         kFormat + "\") or the HF file tokenizer_config.json");
  json config = read_json_file(config_path);
  Fields cfg(config, config_path);

  AddedTokenTable table;
  table.source = config_path;
  table.legacy = optional_bool(cfg, "legacy", true);

  // Roles and additional special tokens; special_tokens_map.json fills what the config lacks.
  json map = json::object();
  const std::string map_path = dir + "/special_tokens_map.json";
  if (file_exists(map_path)) map = read_json_file(map_path);
  if (!map.is_object()) fail(Status::Format, map_path + ": must be a JSON object");
  auto role = [&](const char* key) -> std::string {
    if (!cfg.is_null(key)) return token_content(cfg.get(key), cfg.path(key));
    if (map.contains(key)) return token_content(map.at(key), map_path + ": " + key);
    return "";
  };
  table.bos = role("bos_token");
  table.eos = role("eos_token");
  table.unk = role("unk_token");
  table.pad = role("pad_token");
  std::set<std::string> additional;
  auto read_additional = [&](const json& list, const std::string& where) {
    if (list.is_null()) return;
    if (!list.is_array()) fail(Status::Format, where + ": must be a list");
    for (const auto& e : list) additional.insert(token_content(e, where));
  };
  if (!cfg.is_null("additional_special_tokens"))
    read_additional(cfg.get("additional_special_tokens"), cfg.path("additional_special_tokens"));
  else if (map.contains("additional_special_tokens"))
    read_additional(map.at("additional_special_tokens"), map_path + ": additional_special_tokens");
  auto is_all_special = [&](const std::string& c) { return table.has_role(c) || additional.count(c) > 0; };

  if (!cfg.is_null("added_tokens_decoder")) {
    Fields decoder = cfg.object("added_tokens_decoder");
    const json& entries = cfg.get("added_tokens_decoder");
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      const std::string where = decoder.path(it.key());
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(it.key(), &used);
      } catch (...) {
        used = 0;
      }
      if (used != it.key().size() || id < 0) fail(Status::Format, where + ": key must be a non-negative integer id");
      Fields f(*it, config_path, "added_tokens_decoder." + it.key() + ".");
      AddedToken t;
      t.id = id;
      t.content = f.str("content");
      if (t.content.empty()) fail(Status::Format, f.path("content") + ": must not be empty");
      if (optional_bool(f, "single_word", false))
        fail(Status::Unsupported, f.path("single_word") + ": single_word added tokens are not supported");
      t.lstrip = optional_bool(f, "lstrip", false);
      t.rstrip = optional_bool(f, "rstrip", false);
      t.normalized = optional_bool(f, "normalized", false);
      t.special = optional_bool(f, "special", false);
      t.all_special = is_all_special(t.content);
      table.tokens.push_back(t);
    }
  }

  // added_tokens.json ({content: id}): must agree with the config; entries the config lacks are added
  // with HF's defaults for such files (no strip, special when they are special tokens).
  const std::string added_path = dir + "/added_tokens.json";
  if (file_exists(added_path)) {
    for (const auto& [content, id] : read_content_id_map(read_json_file(added_path), added_path)) {
      if (const AddedToken* known = table.find_content(content)) {
        if (known->id != id)
          fail(Status::Format, added_path + ": " + content + " has id " + std::to_string(id) + " but " + config_path +
                                   " gives " + std::to_string(known->id));
        continue;
      }
      AddedToken t;
      t.id = id;
      t.content = content;
      t.all_special = t.special = is_all_special(content);
      table.tokens.push_back(t);
    }
  }

  // X-SAM's own tokens, recorded by the golden generator.
  const std::string xsam_path = dir + "/xsam_added_tokens.json";
  if (file_exists(xsam_path)) {
    for (const auto& [content, id] : read_content_id_map(read_json_file(xsam_path), xsam_path)) {
      if (const AddedToken* known = table.find_content(content)) {
        if (known->id != id)
          fail(Status::Format, xsam_path + ": " + content + " has id " + std::to_string(id) + ", already " +
                                   std::to_string(known->id));
        continue;
      }
      table.add_special_if_missing(content, id);
    }
  }
  table.sort_and_check();
  return table;
}

}  // namespace

const AddedToken* AddedTokenTable::find_id(int64_t id) const {
  auto it = std::lower_bound(tokens.begin(), tokens.end(), id, [](const AddedToken& t, int64_t v) { return t.id < v; });
  if (it != tokens.end() && it->id == id) return &*it;
  // Tolerate an unsorted table (while it is being built).
  for (const auto& t : tokens)
    if (t.id == id) return &t;
  return nullptr;
}

const AddedToken* AddedTokenTable::find_content(const std::string& content) const {
  for (const auto& t : tokens)
    if (t.content == content) return &t;
  return nullptr;
}

bool AddedTokenTable::has_role(const std::string& content) const {
  return !content.empty() && (content == bos || content == eos || content == unk || content == pad);
}

void AddedTokenTable::add_special_if_missing(const std::string& content, int64_t next_id) {
  if (find_content(content)) return;
  AddedToken t;
  t.id = next_id;
  t.content = content;
  t.special = true;      // add_tokens(..., special_tokens=True) -> AddedToken(special=True,
  t.all_special = true;  //   normalized=False, lstrip=rstrip=False), registered as additional special
  tokens.push_back(t);
}

void AddedTokenTable::sort_and_check() {
  std::sort(tokens.begin(), tokens.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  std::set<std::string> contents;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0 && tokens[i].id == tokens[i - 1].id)
      fail(Status::Format, source + ": two added tokens have id " + std::to_string(tokens[i].id) + " (" +
                               tokens[i - 1].content + ", " + tokens[i].content + ")");
    if (!contents.insert(tokens[i].content).second)
      fail(Status::Format, source + ": added token " + tokens[i].content + " is listed twice");
  }
}

json added_tokens_to_json(const AddedTokenTable& table) {
  json list = json::array();
  for (const auto& t : table.tokens)
    list.push_back({{"id", t.id},
                    {"content", t.content},
                    {"lstrip", t.lstrip},
                    {"rstrip", t.rstrip},
                    {"normalized", t.normalized},
                    {"special", t.special},
                    {"all_special", t.all_special}});
  auto role = [](const std::string& c) { return c.empty() ? json(nullptr) : json(c); };
  return json{{"format", kFormat},
              {"format_version", kFormatVersion},
              {"legacy", table.legacy},
              {"bos_token", role(table.bos)},
              {"eos_token", role(table.eos)},
              {"unk_token", role(table.unk)},
              {"pad_token", role(table.pad)},
              {"added_tokens", list}};
}

AddedTokenTable added_tokens_from_json(const json& j, const std::string& source) {
  Fields f(j, source);
  if (f.str("format") != kFormat) fail(Status::Format, f.path("format") + ": expected \"" + std::string(kFormat) + "\"");
  if (f.integer("format_version") != kFormatVersion)
    fail(Status::Unsupported, f.path("format_version") + ": unsupported version " +
                                  std::to_string(f.integer("format_version")) + " (this library reads " +
                                  std::to_string(kFormatVersion) + ")");
  AddedTokenTable table;
  table.source = source;
  table.legacy = f.boolean("legacy");
  auto role = [&](const char* key) { return f.is_null(key) ? std::string() : f.str(key); };
  table.bos = role("bos_token");
  table.eos = role("eos_token");
  table.unk = role("unk_token");
  table.pad = role("pad_token");
  const json& list = f.get("added_tokens");
  if (!list.is_array()) fail(Status::Format, f.path("added_tokens") + ": must be a list");
  for (size_t i = 0; i < list.size(); ++i)
    table.tokens.push_back(token_from_xsam_json(list[i], source + ": added_tokens[" + std::to_string(i) + "]"));
  table.sort_and_check();
  return table;
}

AddedTokenTable read_added_tokens(const std::string& dir) {
  const std::string added_path = dir + "/added_tokens.json";
  if (file_exists(added_path)) {
    json j = read_json_file(added_path);
    if (j.is_object() && j.contains("format")) return added_tokens_from_json(j, added_path);
  }
  return read_hf_layout(dir);
}

}  // namespace xsam
