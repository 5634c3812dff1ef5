// The assembled prompt ids of every golden case equal upstream's prepared.input_ids (slow tokenizer,
// no BOS), and the cond/seg indices match the recorded sentinel positions.
#include <gtest/gtest.h>

#include "core/error.h"
#include "prompt/prompt.h"
#include "text/tokenizer.h"
#include "support/golden.h"

using namespace xsam;

namespace {

Task task_of(const nlohmann::json& j) {
  std::string name = j["task_name"];
  std::string post = j["postprocess_task_name"].is_string() ? j["postprocess_task_name"].get<std::string>() : "";
  if (name == "imgconv") return Task::Chat;
  if (name == "refseg") return Task::Referring;
  if (name == "reaseg") return Task::Reasoning;
  if (name == "gcgseg") return Task::Gcg;
  if (name == "intseg") return Task::Interactive;
  if (name == "vgdseg") return Task::Vgd;
  if (post.find("sem") != std::string::npos) return Task::Semantic;
  if (post.find("ins") != std::string::npos) return Task::Instance;
  return Task::Panoptic;
}

const Tokenizer& golden_tokenizer() {
  static Tokenizer t = [] {
    TokenizerOptions o;
    o.mode = TokenizerMode::Slow;
    o.plugin_path = test::tokenizer_plugin();
    return Tokenizer::from_directory(test::golden_dir() + "/tokenizer", o);
  }();
  return t;
}

// Finds the template indices that reproduce the recorded conversation (upstream chose them at random),
// then checks the ids. The request is built the way a user would: prompt text, class list, region count.
void check_case(const std::string& name) {
  test::GoldenCase c(name);
  const auto& j = c.json();
  ModelConfig config = test::golden_config();
  TaskRequest r;
  r.task = task_of(j);
  r.teacher_forced = j["teacher_forced"].get<bool>();
  r.prompt = j["prompt_arg"].is_string() ? j["prompt_arg"].get<std::string>() : "";
  const auto& classes = j["classes(all,thing,stuff)"];
  if (classes.is_array() && classes[0].is_array()) r.classes = classes[0].get<std::vector<std::string>>();
  // imgconv records no conversation: the demo's is "<image>\n" + prompt, answer left to the model.
  const nlohmann::json conv = j["conversation"].is_array()
                                  ? j["conversation"]
                                  : nlohmann::json::array({{{"input", "<|user|>\n<image>\n" + r.prompt + "<|end|>\n<|assistant|>\n"},
                                                            {"output", ""}}});
  r.n_regions = j["sentinels"]["region(-300)"].size();
  if (j["example_override"].is_object() && j["example_override"].contains("sampled_sents"))
    r.classes = j["example_override"]["sampled_sents"].get<std::vector<std::string>>();
  if (r.task == Task::Gcg && r.teacher_forced) r.answer = conv[0]["output"].get<std::string>();

  PromptOptions opts;
  opts.answer_suffix = !(r.task == Task::Gcg && r.teacher_forced);
  // Upstream draws the templates at random, per turn: find, turn by turn, the template pair that
  // renders the recorded text (a referring conversation has one turn per phrase).
  std::vector<std::string> phrases = r.classes;
  size_t n_turns = conv.size();
  std::vector<Turn> turns;
  bool found = true;
  std::string chosen;
  for (size_t i = 0; i < n_turns; ++i) {
    TaskRequest ri = r;
    if (r.task == Task::Referring && phrases.size() == n_turns) ri.classes = {phrases[i]};
    bool turn_found = false;
    size_t nq = std::max<size_t>(1, question_templates(r.task).size());
    size_t na = std::max<size_t>(1, answer_templates(r.task).size());
    for (size_t q = 0; q < nq && !turn_found; ++q)
      for (size_t a = 0; a < na && !turn_found; ++a) {
        ri.question_template = static_cast<int>(q);
        ri.answer_template = static_cast<int>(a);
        auto built = build_turns(ri);
        if (built.size() != 1) break;
        // The user's text is marked (no special token matches inside it); upstream's record is plain text.
        const std::string question = Tokenizer::without_user_markers(built[0].question);
        std::string got_in = "<|user|>\n" + std::string(i == 0 ? "<image>\n" : "") + question + "<|end|>\n<|assistant|>\n";
        std::string got_out = built[0].answer ? *built[0].answer + (opts.answer_suffix ? "<|end|>" : "") : "";
        if (got_in == conv[i]["input"].get<std::string>() && got_out == conv[i]["output"].get<std::string>()) {
          turn_found = true;
          turns.push_back(built[0]);
          chosen += " " + std::to_string(q) + "/" + std::to_string(a);
        }
      }
    found = found && turn_found;
  }
  if (found) {
    PreparedPrompt p = prepare_prompt(golden_tokenizer(), config, turns, opts);
    auto golden_ids = c.get("prepared.input_ids");
    std::vector<int64_t> expect(golden_ids.data_ptr<int64_t>(), golden_ids.data_ptr<int64_t>() + golden_ids.numel());
    EXPECT_EQ(p.ids, expect) << name;
    // Upstream creates cond_ids / seg_ids only when the prompt has <p> / <SEG>.
    auto all_minus_one = [](const std::vector<int64_t>& v) {
      return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == -1; });
    };
    if (c.has("prepared.cond_ids")) {
      auto cond = c.get("prepared.cond_ids");
      EXPECT_EQ(p.cond_ids, std::vector<int64_t>(cond.data_ptr<int64_t>(), cond.data_ptr<int64_t>() + cond.numel())) << name;
    } else {
      EXPECT_TRUE(all_minus_one(p.cond_ids)) << name;
    }
    if (c.has("prepared.seg_ids")) {
      auto seg = c.get("prepared.seg_ids");
      EXPECT_EQ(p.seg_ids, std::vector<int64_t>(seg.data_ptr<int64_t>(), seg.data_ptr<int64_t>() + seg.numel())) << name;
    } else {
      EXPECT_TRUE(all_minus_one(p.seg_ids)) << name;
    }
    std::printf("[prompt] %-28s task=%-11s templates%s ids=%zu identical=%d\n", name.c_str(), task_name(r.task),
                chosen.c_str(), p.ids.size(), int(p.ids == expect));
  }
  EXPECT_TRUE(found) << name << ": no template pair reproduces the recorded conversation";
}

}  // namespace

TEST(PromptGolden, EveryCaseReproducesUpstreamIds) {
  for (const auto& name : test::golden_case_names()) {
    SCOPED_TRACE(name);
    check_case(name);
  }
}

TEST(Prompt, DefaultTemplatesAndErrors) {
  TaskRequest r;
  r.task = Task::Referring;
  r.prompt = "  The Red Car ";
  auto turns = build_turns(r);
  ASSERT_EQ(turns.size(), 1u);
  EXPECT_EQ(Tokenizer::without_user_markers(turns[0].question),
            "Please identify and segment the <p>the red car</p> in this image.");
  EXPECT_EQ(*turns[0].answer, "<SEG>.");
  r.task = Task::Vgd;
  r.n_regions = 0;
  EXPECT_THROW(build_turns(r), Failure);
  r.task = Task::Interactive;
  r.n_regions = 2;
  EXPECT_THROW(build_turns(r), Failure);
  r.task = Task::Semantic;
  r.classes = {"wall-other", "sky"};
  r.n_regions = 0;
  EXPECT_EQ(Tokenizer::without_user_markers(build_turns(r)[0].question),
            "Can you segment the image based on the following categories: <p>wall</p>, <p>sky</p>? Please output the segmentation masks.");
  r.question_template = 99;  // not from the set: an index no task has
  EXPECT_THROW(build_turns(r), Failure);
}

TEST(Tasks, ClassPromptAndAutoRules) {
  ClassLists l;
  ASSERT_TRUE(parse_class_prompt("ins: cup, spoon; sem: table, wall", &l));
  EXPECT_EQ(l.things, (std::vector<std::string>{"cup", "spoon"}));
  EXPECT_EQ(l.stuff, (std::vector<std::string>{"table", "wall"}));
  EXPECT_EQ(generic_variant(l), Task::Panoptic);
  EXPECT_EQ(infer_task("sem: sky", 0, 0, 0), Task::Semantic);
  EXPECT_EQ(infer_task("ins: a,b", 0, 0, 0), Task::Instance);
  EXPECT_EQ(infer_task("hello", 0, 0, 1), Task::Interactive);
  EXPECT_EQ(infer_task("hello", 0, 0, 3), Task::Vgd);
  EXPECT_EQ(infer_task("describe", 0, 0, 0), Task::Chat);
  EXPECT_EQ(infer_task("x", 3, 3, 0), Task::Instance);
}
