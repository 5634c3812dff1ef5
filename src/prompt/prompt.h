// Prompt assembly (docs/design/upstream-facts.md#tokenization, #chat-template, #execution-modes,
// #tasks-and-templates): task request → conversation turns → the phi3_chat template → ids with <image>/<region>
// sentinels, plus the phrase (cond) and <SEG> index of every id.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "prompt/tasks.h"
#include "text/tokenizer.h"

namespace xsam {

struct Turn {
  std::string question;               // the user text after "<image>\n" (first turn) — already templated
  std::optional<std::string> answer;  // teacher-forced answer text; nullopt = the model generates it
};

struct PromptOptions {
  bool add_bos = false;        // docs/design/decisions.md#prompt-reproduction: off by default (upstream demo)
  bool answer_suffix = true;   // "<|end|>" after a teacher-forced answer (upstream drops it for GCG)
};

struct PreparedPrompt {
  std::vector<int64_t> ids;       // token ids; image_sentinel / region_sentinel where the template has them
  std::vector<int64_t> cond_ids;  // phrase index of every id (<p>..</p> inclusive), -1 elsewhere
  std::vector<int64_t> seg_ids;   // <SEG> ordinal of every id, -1 elsewhere
  std::vector<std::string> rendered_turns;  // the templated text of each turn (input + output), for logs
  size_t n_images = 0;
  size_t n_regions = 0;
};

// What a request asks, before templating.
struct TaskRequest {
  Task task = Task::Chat;
  std::string prompt;                 // user text (chat question, referring expression, reasoning query)
  std::vector<std::string> classes;   // generic classes in order (things first) / several referring phrases
  size_t n_regions = 0;               // interactive / VGD
  bool teacher_forced = true;
  int question_template = 0;
  int answer_template = 0;
  std::optional<std::string> question;  // explicit question text (replaces the template)
  std::optional<std::string> answer;    // explicit answer text (replaces the answer template)
};

// The turns upstream's map functions would build for this request (templates fixed by index;
// referring phrases lower-cased as upstream; one turn per referring phrase).
std::vector<Turn> build_turns(const TaskRequest& request);

PreparedPrompt prepare_prompt(const Tokenizer& tokenizer, const ModelConfig& config, const std::vector<Turn>& turns,
                              const PromptOptions& options);

// cond/seg indices of an id list (docs/design/upstream-facts.md#llm-to-decoder-embeddings): i-th <p> zipped with i-th
// </p>; k-th <SEG>.
void assign_phrase_and_seg_ids(const std::vector<int64_t>& ids, const TokenIds& tokens, std::vector<int64_t>* cond_ids,
                               std::vector<int64_t>* seg_ids);

}  // namespace xsam
