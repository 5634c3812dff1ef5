// The presets come from one data file, src/core/presets.json (embedded in the library, also read by
// tools/xsam-export). These tests hold the C++ side to that file: every key it names is a config field
// the library reads back unchanged, every behaviour preset sets every behaviour field, and the struct
// defaults are the aaai26 preset's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/presets_data.h"

using namespace xsam;
using nlohmann::json;

namespace {

const json& data() {
  static const json d = json::parse(presets_json());
  return d;
}

// Every field `part` names has the same value in `written` (the library's to_json of what it read).
void expect_subset(const json& part, const json& written, const std::string& where) {
  for (const auto& [section, fields] : part.items()) {
    ASSERT_TRUE(written.contains(section)) << where << ": no section " << section;
    for (const auto& [field, value] : fields.items()) {
      ASSERT_TRUE(written[section].contains(field)) << where << ": " << section << "." << field << " is not a config field";
      if (value.is_number_float()) EXPECT_DOUBLE_EQ(written[section][field].get<double>(), value.get<double>());
      else EXPECT_EQ(written[section][field], value) << where << ": " << section << "." << field;
    }
  }
}

}  // namespace

TEST(Presets, SizePresetsAreReadExactlyAsTheFileSays) {
  ASSERT_FALSE(data().at("size_presets").empty());
  for (const auto& [name, sections] : data().at("size_presets").items()) {
    ModelConfig c = size_preset(name);
    EXPECT_EQ(c.source, "preset:" + name);
    EXPECT_EQ(c.behaviour.preset, "aaai26");
    expect_subset(sections, model_config_to_json(c), "size_presets." + name);
  }
}

TEST(Presets, BehaviourPresetsSetEveryBehaviourField) {
  const json every_field = model_config_to_json(size_preset("tiny")).at("behaviour");
  ASSERT_GE(data().at("behaviour_presets").size(), 2u);
  for (const auto& [name, part] : data().at("behaviour_presets").items()) {
    for (const auto& [field, value] : every_field.items())
      EXPECT_TRUE(part.at("behaviour").contains(field)) << name << " does not set behaviour." << field;
    ModelConfig c = size_preset("tiny");
    apply_preset(c, name);
    EXPECT_EQ(c.behaviour.preset, name);
    expect_subset(part, model_config_to_json(c), "behaviour_presets." + name);
  }
}

TEST(Presets, BehaviourPresetsDiffer) {
  // Each preset must change something against every other one, or it names nothing.
  for (const auto& [a, pa] : data().at("behaviour_presets").items())
    for (const auto& [b, pb] : data().at("behaviour_presets").items())
      if (a != b) EXPECT_NE(pa, pb) << a << " and " << b;
}

TEST(Presets, StructDefaultsAreTheAaai26Preset) {
  ModelConfig defaults;
  ModelConfig preset = defaults;
  apply_preset(preset, "aaai26");
  const json d = model_config_to_json(defaults), p = model_config_to_json(preset);
  for (const char* section : {"behaviour", "class_head", "sampler", "preprocess"})
    EXPECT_EQ(d.at(section), p.at(section)) << section;
}

TEST(Presets, UnknownNamesListTheKnownOnes) {
  ModelConfig c;
  try {
    apply_preset(c, "nope");
    FAIL() << "no error";
  } catch (const Failure& e) {
    for (const auto& [name, part] : data().at("behaviour_presets").items())
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
  json config = model_config_to_json(size_preset("tiny"));
  config["preset"] = "nope";
  try {
    parse_model_config(config, "dir/config.json");
    FAIL() << "no error";
  } catch (const Failure& e) {
    EXPECT_EQ(std::string(e.what()).rfind("dir/config.json: preset: unknown behaviour preset 'nope'", 0), 0u) << e.what();
  }
  try {
    size_preset("huge");
    FAIL() << "no error";
  } catch (const Failure& e) {
    EXPECT_NE(std::string(e.what()).find("unknown size preset 'huge'"), std::string::npos) << e.what();
    for (const auto& [name, part] : data().at("size_presets").items())
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}
