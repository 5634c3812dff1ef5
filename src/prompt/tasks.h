// Tasks: what each X-SAM task asks the model (question/answer templates of
// docs/design/upstream-facts.md#tasks-and-templates, index 0 is the default), how its answer is produced
// (teacher-forced or generated, docs/design/upstream-facts.md#execution-modes), and which post-processing reads the
// decoder output. Plain data; no torch.
#pragma once
#include <string>
#include <vector>

namespace xsam {

enum class Task { Auto, Chat, Semantic, Instance, Panoptic, Referring, Reasoning, Gcg, Interactive, Vgd, OpenVocab };
enum class Mode { Default, TeacherForced, Generate };

// How the decoder's conditions are laid out (docs/design/upstream-facts.md#llm-to-decoder-embeddings
// _process_embeds).
enum class CondLayout {
  None,       // chat: text only (unless the answer grounds phrases, docs/design/decisions.md#where-upstream-fails)
  Shared,     // generic / open-vocab / GCG / interactive / VGD: one decoder row, bg last
  PerPhrase,  // referring / reasoning: one decoder row per <SEG>, all phrases + bg as classes
};

const char* task_name(Task t);                 // "chat", "semantic", ...
bool task_from_name(const std::string& name, Task* out);
const char* upstream_task_name(Task t);        // "imgconv", "genseg", "refseg", ...
CondLayout cond_layout(Task t);
bool is_generic(Task t);                       // semantic / instance / panoptic / open-vocab
Mode default_mode(Task t);                     // teacher-forced for fixed answers, generate for chat / GCG

// Template lists (docs/design/upstream-facts.md#tasks-and-templates). Empty for chat (the question is the user's
// text).
const std::vector<std::string>& question_templates(Task t);
const std::vector<std::string>& answer_templates(Task t);

// Upstream's category tagging: strip -merged/-other/-stuff, '-' → ' ', lower-case, "<p>name</p>",
// joined with ", " (genseg_map_fn tag_categories).
std::string tag_categories(const std::vector<std::string>& names);
std::string tag_regions(size_t n);  // "<p><region></p>, <p><region></p>"

// "ins: a, b; sem: c" (the demo's prompt syntax). Returns false when the text has neither key.
struct ClassLists {
  std::vector<std::string> things;
  std::vector<std::string> stuff;
};
bool parse_class_prompt(const std::string& prompt, ClassLists* out);

// Generic variant by upstream's rule: things and stuff → panoptic, only things → instance,
// only stuff → semantic.
Task generic_variant(const ClassLists& classes);

// AUTO: refs → interactive (1 ref) or VGD (several); "ins:/sem:" syntax or a class list → generic
// variant; otherwise chat. Documented in docs/c-api.md.
Task infer_task(const std::string& prompt, size_t n_classes, size_t n_thing_classes, size_t n_refs);

// Fills a template: every "{categories}", "{phrase}", "{sent}", "{regions}" is replaced by `value`.
std::string fill_template(const std::string& tmpl, const std::string& value);

}  // namespace xsam
