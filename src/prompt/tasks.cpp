#include "prompt/tasks.h"

#include <algorithm>
#include <cctype>

namespace xsam {

namespace {

struct TaskInfo {
  Task task;
  const char* name;
  const char* upstream;
};

const TaskInfo kTasks[] = {
    {Task::Auto, "auto", "auto"},
    {Task::Chat, "chat", "imgconv"},
    {Task::Semantic, "semantic", "genseg"},
    {Task::Instance, "instance", "genseg"},
    {Task::Panoptic, "panoptic", "genseg"},
    {Task::Referring, "referring", "refseg"},
    {Task::Reasoning, "reasoning", "reaseg"},
    {Task::Gcg, "gcg", "gcgseg"},
    {Task::Interactive, "interactive", "intseg"},
    {Task::Vgd, "vgd", "vgdseg"},
    {Task::OpenVocab, "open_vocab", "ovseg"},
};

// genseg_map_fn.py MASK_QUESTION_LIST / MASK_ANSWER_LIST (ovseg reuses them).
const std::vector<std::string> kGenericQuestions = {
    "Can you segment the image based on the following categories: {categories}? Please output the segmentation masks.",
    "Can you generate segmentation masks for this image based on the specified categories: {categories}? Please generate the segmentation masks.",
    "Can you provide segmentation masks for this image based on these categories: {categories}? Please provide the segmentation masks.",
    "Could you create segmentation masks for this image according to the specified categories: {categories}? Please create the segmentation masks.",
    "Could you output segmentation masks for this image that highlight the following categories: {categories}? Please output the segmentation masks.",
    "Could you provide segmentation masks for this image according to the specified categories: {categories}? Please respond with the segmentation masks.",
};
const std::vector<std::string> kGenericAnswers = {
    "<SEG>.", "It is <SEG>.", "Sure, <SEG>.", "Sure, it is <SEG>.", "Sure, the segmentation result is <SEG>.",
};

// refseg_map_fn.py SEG_QUESTIONS / ANSWER_LIST.
const std::vector<std::string> kReferringQuestions = {
    "Please identify and segment the {phrase} in this image.",
    "Please segment {phrase} in this image.",
    "What is {phrase} in this image? Please output the corresponding segmentation mask.",
    "Can you segment {phrase} in this image? Please generate the segmentation mask.",
    "Could you provide a segmentation mask for the {phrase} in this image? Please provide the segmentation mask.",
    "Where is the {phrase} in this picture? Please output the segmentation masks.",
    "Can you highlight the {phrase} in this image with a segmentation mask? Please output the segmentation mask.",
    "Could you provide a segmentation mask for the {phrase} in this image? Please respond with the segmentation mask.",
    "Where is the {phrase} in this picture? Please output the corresponding segmentation mask.",
    "Can you highlight the {phrase} in this image with a segmentation mask? Please output the segmentation mask.",
};
const std::vector<std::string> kMaskAnswers = {
    "<SEG>.", "It is <SEG>.", "Sure, <SEG>.", "Sure, it is <SEG>.", "Sure, the segmentation mask is <SEG>.",
};

// reaseg_map_fn.py LONG_QUESTIONS (the demo's is_sentence=True path).
const std::vector<std::string> kReasoningQuestions = {
    "{sent} Please output the corresponding segmentation mask.",
    "{sent} Please generate a segmentation mask for this image.",
    "{sent} Please extract the segmentation mask.",
    "{sent} Please return the segmentation predictions as masks.",
    "{sent} Please segment the image.",
};

// gcgseg_map_fn.py QUESTION_LIST / ANSWER_LIST.
const std::vector<std::string> kGcgQuestions = {
    "Could you please give me a brief description of the image? Please respond with interleaved segmentation masks for the corresponding parts of the answer.",
    "Can you provide a brief description of the this image? Please output interleaved segmentation masks for the corresponding phrases.",
    "Please briefly describe the contents of the image. Please respond with interleaved segmentation masks for the corresponding parts of the answer.",
    "Could you give a brief explanation of what can be found within this picture? Please output interleaved segmentation masks for the corresponding phrases.",
    "Could you give me an brief explanation of this picture? Please respond with interleaved segmentation masks for the corresponding phrases.",
    "Could you provide me with a briefly analysis of this photo? Please output interleaved segmentation masks for the corresponding parts of the answer.",
};
const std::vector<std::string> kGcgAnswers = {
    "<SEG>.", "And <SEG>.", "The segmentation mask is <SEG>.", "And the segmentation mask is <SEG>.",
};

// vgdseg_map_fn.py QUESTION_LIST / ANSWER_LIST (intseg reuses them).
const std::vector<std::string> kRegionQuestions = {
    "Can you segment the image based on the following regions: {regions}? Please output the corresponding segmentation mask.",
    "Can you generate segmentation masks for this image based on the specified regions: {regions}? Please generate the segmentation masks.",
    "Can you provide segmentation masks for this image based on these regions: {regions}? Please provide the segmentation masks.",
    "Could you create segmentation masks for this image according to the specified regions: {regions}? Please create the segmentation masks.",
    "Could you output segmentation masks for this image that highlight the following regions: {regions}? Please output the segmentation masks.",
    "Could you provide segmentation masks for this image according to the specified regions: {regions}? Please respond with the segmentation masks.",
};

const std::vector<std::string> kNone;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}

std::vector<std::string> split_classes(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

const char* task_name(Task t) {
  for (const auto& i : kTasks)
    if (i.task == t) return i.name;
  return "?";
}

bool task_from_name(const std::string& name, Task* out) {
  for (const auto& i : kTasks)
    if (name == i.name) {
      *out = i.task;
      return true;
    }
  return false;
}

const char* upstream_task_name(Task t) {
  for (const auto& i : kTasks)
    if (i.task == t) return i.upstream;
  return "?";
}

CondLayout cond_layout(Task t) {
  switch (t) {
    case Task::Referring:
    case Task::Reasoning: return CondLayout::PerPhrase;
    case Task::Chat:
    case Task::Auto: return CondLayout::None;
    default: return CondLayout::Shared;
  }
}

bool is_generic(Task t) {
  return t == Task::Semantic || t == Task::Instance || t == Task::Panoptic || t == Task::OpenVocab;
}

Mode default_mode(Task t) { return t == Task::Chat || t == Task::Gcg ? Mode::Generate : Mode::TeacherForced; }

const std::vector<std::string>& question_templates(Task t) {
  switch (t) {
    case Task::Semantic: case Task::Instance: case Task::Panoptic: case Task::OpenVocab: return kGenericQuestions;
    case Task::Referring: return kReferringQuestions;
    case Task::Reasoning: return kReasoningQuestions;
    case Task::Gcg: return kGcgQuestions;
    case Task::Interactive: case Task::Vgd: return kRegionQuestions;
    default: return kNone;
  }
}

const std::vector<std::string>& answer_templates(Task t) {
  switch (t) {
    case Task::Semantic: case Task::Instance: case Task::Panoptic: case Task::OpenVocab:
    case Task::Interactive: case Task::Vgd: return kGenericAnswers;
    case Task::Referring: case Task::Reasoning: return kMaskAnswers;
    case Task::Gcg: return kGcgAnswers;
    default: return kNone;
  }
}

std::string tag_categories(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string n = names[i];
    for (const char* suffix : {"-merged", "-other", "-stuff"}) replace_all(n, suffix, "");
    std::replace(n.begin(), n.end(), '-', ' ');
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    out += (i ? ", " : "") + std::string("<p>") + n + "</p>";
  }
  return out;
}

std::string tag_regions(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? ", " : "") + std::string("<p><region></p>");
  return out;
}

namespace {
// Whether `at` begins an item of the class prompt: the text's start or the first non-blank character
// after a ';' or a newline. Upstream's demo searches `ins:` anywhere, so "What is in the bins: left or
// right?" read as instance segmentation; xsam reads the keys only as item prefixes, as in
// "ins: person, car; sem: sky".
bool starts_item(const std::string& text, size_t at) {
  while (at > 0 && (text[at - 1] == ' ' || text[at - 1] == '\t' || text[at - 1] == '\r' || text[at - 1] == '\f' ||
                    text[at - 1] == '\v'))
    --at;
  return at == 0 || text[at - 1] == ';' || text[at - 1] == '\n';
}

// The leftmost match of the regex `<key>\s*([^;\n]+)` in `text`, group 1 into *out, by hand: libstdc++'s
// std::regex recurses once per matched character and overflows the stack on a long prompt (~100k chars).
bool find_class_list(const std::string& text, const std::string& key, std::string* out) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    if (!starts_item(text, at)) continue;
    const size_t p = at + key.size();
    size_t ws = p;
    while (ws < text.size() && is_space(text[ws])) ++ws;
    // \s* is greedy but gives back characters when [^;\n]+ would otherwise match nothing.
    for (size_t start = ws + 1; start-- > p;) {
      size_t end = start;
      while (end < text.size() && text[end] != ';' && text[end] != '\n') ++end;
      if (end > start) {
        *out = text.substr(start, end - start);
        return true;
      }
    }
  }
  return false;
}
}  // namespace

bool parse_class_prompt(const std::string& prompt, ClassLists* out) {
  // XSamDemo._get_classes_from_prompt: regexes ins:\s*([^;\n]+) and sem:\s*([^;\n]+).
  std::string list;
  bool found = false;
  out->things.clear();
  out->stuff.clear();
  if (find_class_list(prompt, "ins:", &list)) {
    out->things = split_classes(list);
    found = true;
  }
  if (find_class_list(prompt, "sem:", &list)) {
    out->stuff = split_classes(list);
    found = true;
  }
  return found;
}

Task generic_variant(const ClassLists& c) {
  if (!c.things.empty() && !c.stuff.empty()) return Task::Panoptic;
  if (!c.things.empty()) return Task::Instance;
  return Task::Semantic;
}

Task infer_task(const std::string& prompt, size_t n_classes, size_t n_thing_classes, size_t n_refs) {
  if (n_refs == 1) return Task::Interactive;
  if (n_refs > 1) return Task::Vgd;
  ClassLists lists;
  if (parse_class_prompt(prompt, &lists)) return generic_variant(lists);
  if (n_classes > 0) {
    lists.things.assign(n_thing_classes, "x");
    lists.stuff.assign(n_classes - std::min(n_classes, n_thing_classes), "x");
    return generic_variant(lists);
  }
  return Task::Chat;
}

std::string fill_template(const std::string& tmpl, const std::string& value) {
  std::string s = tmpl;
  for (const char* key : {"{categories}", "{phrase}", "{sent}", "{regions}"}) replace_all(s, key, value);
  return s;
}

}  // namespace xsam
