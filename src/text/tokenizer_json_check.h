// The structure of tokenizer.json that xsam's fast tokenizer implements (Phi-3-mini-4k-instruct's file as
// X-SAM loads it), checked when a model is loaded so that a hand-made model directory cannot slip past
// what tools/xsam-export refuses. Same rule and same messages as tools/xsam_export/tokenizer_json_check.py
// (its docstring lists the rule); keep the two in step.
#pragma once
#include <string>

#include "text/tokenizer.h"

namespace xsam {

// Checks `dir`/tokenizer.json when it exists (nothing to do otherwise) against `dir`/tokenizer.model's
// pieces and scores and `tok`'s added-token table. Throws xsam::Failure (Status::Format)
// "PATH: FIELD: what is wrong (xsam implements ...)" at the first field that differs.
void check_tokenizer_json(const std::string& dir, const Tokenizer& tok);

}  // namespace xsam
