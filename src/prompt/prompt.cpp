#include "prompt/prompt.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace xsam {

namespace {

std::string strip(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const std::string& pick(const std::vector<std::string>& list, int index, const char* what, Task task) {
  if (index < 0 || index >= static_cast<int>(list.size()))
    fail(Status::InvalidArgument, std::string(what) + ": index " + std::to_string(index) + " out of range for task " +
                                      task_name(task) + " (0.." + std::to_string(list.size()) + ")");
  return list[index];
}

}  // namespace

// The user's text (prompt, class names, phrases) is marked as such: the tokenizer matches no special
// token inside it, so a typed "<SEG>" or "</p>" stays text. `question` and `answer` replace whole
// template turns and are written in the model's own format, special tokens included.
// "<image>" alone stays refused (rather than escaped): the image is given as pixels, never in the text.
static std::string user(const std::string& text) {
  if (text.find("<image>") != std::string::npos)
    fail(Status::InvalidArgument, "prompt: the text holds \"<image>\"; the image is passed separately and a "
                                  "conversation has exactly one <image>, the template's");
  return Tokenizer::user_text(text);
}

std::vector<Turn> build_turns(const TaskRequest& r) {
  const Task t = r.task;
  std::optional<std::string> answer;
  if (r.teacher_forced) {
    if (r.answer) answer = *r.answer;
    else if (t == Task::Chat) fail(Status::InvalidArgument, "mode: teacher-forced chat needs an explicit answer");
    else if (t == Task::Gcg)
      fail(Status::InvalidArgument, "mode: teacher-forced GCG needs an explicit answer (a caption with <p>..</p> and <SEG>)");
    else answer = pick(answer_templates(t), r.answer_template, "answer_template", t);
  }
  auto question_for = [&](const std::string& value) {
    if (r.question) return *r.question;
    return fill_template(pick(question_templates(t), r.question_template, "question_template", t), value);
  };
  std::vector<Turn> turns;
  switch (t) {
    case Task::Chat: {
      std::string q = r.question ? *r.question : strip(r.prompt);
      if (q.empty()) fail(Status::InvalidArgument, "prompt: chat needs a non-empty prompt");
      turns.push_back({r.question ? q : user(q), answer});
      break;
    }
    case Task::Semantic: case Task::Instance: case Task::Panoptic: case Task::OpenVocab:
      if (r.classes.empty() && !r.question) fail(Status::InvalidArgument, "classes: generic segmentation needs at least one class");
    {
      std::vector<std::string> names;
      for (const auto& c : r.classes) names.push_back(user(c));
      turns.push_back({question_for(tag_categories(names)), answer});
    }
      break;
    case Task::Referring: {
      std::vector<std::string> phrases = r.classes;
      if (phrases.empty()) phrases.push_back(r.prompt);
      for (auto& p : phrases) {
        if (strip(p).empty() && !r.question) fail(Status::InvalidArgument, "prompt: referring needs a non-empty expression");
        turns.push_back({question_for("<p>" + user(lower(strip(p))) + "</p>"), answer});
      }
      break;
    }
    case Task::Reasoning:
      if (strip(r.prompt).empty() && !r.question) fail(Status::InvalidArgument, "prompt: reasoning needs a non-empty query");
      turns.push_back({question_for("<p>" + user(strip(r.prompt)) + "</p>"), answer});
      break;
    case Task::Gcg:
      turns.push_back({question_for(""), answer});
      break;
    case Task::Interactive:
      if (r.n_regions != 1)
        fail(Status::InvalidArgument, "refs: interactive segmentation takes exactly one visual ref, got " + std::to_string(r.n_regions));
      turns.push_back({question_for(tag_regions(1)), answer});
      break;
    case Task::Vgd:
      if (r.n_regions == 0) fail(Status::InvalidArgument, "refs: VGD segmentation needs at least one visual ref");
      turns.push_back({question_for(tag_regions(r.n_regions)), answer});
      break;
    case Task::Auto:
      fail(Status::Internal, "build_turns: task AUTO must be resolved first");
  }
  return turns;
}

void assign_phrase_and_seg_ids(const std::vector<int64_t>& ids, const TokenIds& tokens, std::vector<int64_t>* cond_ids,
                               std::vector<int64_t>* seg_ids) {
  cond_ids->assign(ids.size(), -1);
  seg_ids->assign(ids.size(), -1);
  std::vector<size_t> starts, ends;
  int64_t seg = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == tokens.p_start) starts.push_back(i);
    else if (ids[i] == tokens.p_end) ends.push_back(i);
    else if (ids[i] == tokens.seg) (*seg_ids)[i] = seg++;
  }
  // zip(starts, ends): the i-th <p> with the i-th </p>; unmatched extras are dropped (upstream zip).
  for (size_t k = 0; k < std::min(starts.size(), ends.size()); ++k)
    for (size_t i = starts[k]; i <= ends[k] && i < ids.size(); ++i) (*cond_ids)[i] = static_cast<int64_t>(k);
}

PreparedPrompt prepare_prompt(const Tokenizer& tok, const ModelConfig& config, const std::vector<Turn>& turns,
                              const PromptOptions& options) {
  PreparedPrompt out;
  ChunkOptions chunks;
  chunks.image_sentinel = config.tokens.image_sentinel;
  chunks.region_sentinel = config.tokens.region_sentinel;
  chunks.drop_blank_chunks = config.behaviour.drop_blank_chunks;
  for (size_t i = 0; i < turns.size(); ++i) {
    const Turn& turn = turns[i];
    // Map functions strip the question and put the image token first, in the first turn only.
    std::string input = "<|user|>\n" + (i == 0 ? config.behaviour.image_token_text : std::string()) + strip(turn.question) +
                        "<|end|>\n<|assistant|>\n";
    if (i == 0 && options.add_bos) out.ids.push_back(config.tokens.bos);
    auto in_ids = tok.encode_chunks(input, chunks);
    out.ids.insert(out.ids.end(), in_ids.begin(), in_ids.end());
    std::string rendered = input;
    if (turn.answer) {
      std::string output = *turn.answer + (options.answer_suffix ? "<|end|>" : "");
      auto out_ids = tok.encode_chunks(output, chunks);
      out.ids.insert(out.ids.end(), out_ids.begin(), out_ids.end());
      auto sep = tok.encode("\n");  // SEP, encoded on its own
      out.ids.insert(out.ids.end(), sep.begin(), sep.end());
      rendered += output + "\n";
    } else if (i + 1 != turns.size()) {
      fail(Status::InvalidArgument, "turns: only the last turn may leave its answer to the model");
    }
    out.rendered_turns.push_back(Tokenizer::without_user_markers(rendered));
  }
  for (int64_t id : out.ids) {
    if (id == config.tokens.image_sentinel) ++out.n_images;
    if (id == config.tokens.region_sentinel) ++out.n_regions;
  }
  assign_phrase_and_seg_ids(out.ids, config.tokens, &out.cond_ids, &out.seg_ids);
  return out;
}

}  // namespace xsam
