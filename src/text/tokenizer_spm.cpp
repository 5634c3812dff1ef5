#include "text/tokenizer_spm.h"

#include <memory>

#include "core/error.h"

namespace xsam {
namespace {

// Takes ownership of a plugin-allocated error string and returns it as std::string.
std::string take_error(const xsam_spm_api* api, char* error) {
  std::string message = error ? error : "unknown error";
  if (error) api->free_string(error);
  return message;
}

}  // namespace

SpmModel::SpmModel(const TokenizerPlugin& plugin, std::string bytes, std::string source)
    : api_(plugin.api), bytes_(std::move(bytes)), source_(std::move(source)) {
  char* error = nullptr;
  handle_ = api_->load_bytes(bytes_.data(), bytes_.size(), &error);
  if (!handle_) fail(Status::Format, source_ + ": " + take_error(api_, error));
  int32_t n = api_->vocab_size(handle_);
  pieces_.reserve(static_cast<size_t>(n));
  types_.reserve(static_cast<size_t>(n));
  for (int32_t id = 0; id < n; ++id) {
    size_t len = 0;
    const char* p = api_->id_to_piece(handle_, id, &len);
    pieces_.emplace_back(p ? std::string(p, len) : std::string());
    types_.push_back(api_->piece_type(handle_, id));
    ids_.emplace(pieces_.back(), id);
  }
}

SpmModel::~SpmModel() {
  if (handle_) api_->free_model(handle_);
}

std::vector<int32_t> SpmModel::encode(std::string_view text, bool add_dummy_prefix) const {
  int32_t* ids = nullptr;
  size_t n = 0;
  char* error = nullptr;
  if (api_->encode(handle_, text.data(), text.size(), add_dummy_prefix ? 1 : 0, &ids, &n, &error) != 0)
    fail(Status::Internal, source_ + ": " + take_error(api_, error));
  std::vector<int32_t> out(ids, ids + n);
  api_->free_ids(ids);
  return out;
}

std::string SpmModel::decode_pieces(const std::vector<std::string>& pieces, bool add_dummy_prefix) const {
  std::vector<const char*> data;
  std::vector<size_t> lens;
  data.reserve(pieces.size());
  lens.reserve(pieces.size());
  for (const auto& p : pieces) {
    data.push_back(p.data());
    lens.push_back(p.size());
  }
  char* text = nullptr;
  size_t len = 0;
  char* error = nullptr;
  if (api_->decode_pieces(handle_, data.data(), lens.data(), pieces.size(), add_dummy_prefix ? 1 : 0, &text, &len,
                          &error) != 0)
    fail(Status::Internal, source_ + ": " + take_error(api_, error));
  std::string out(text, len);
  api_->free_string(text);
  return out;
}

std::optional<int32_t> SpmModel::piece_id(const std::string& piece) const {
  auto it = ids_.find(piece);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

}  // namespace xsam
