// libxsam_tokenizer.so: SentencePiece behind the plain C table of xsam_spm_api.h.
//
// This file is the only code that links SentencePiece (see xsam_spm_api.h for why). It knows nothing
// about added tokens, chat templates or HF modes; the C++ facade in src/text/ builds those on top of
// two primitives: "encode this text with / without the dummy prefix" and "decode these pieces".
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <sentencepiece_processor.h>

#include "tokenizer_plugin/xsam_spm_api.h"

struct xsam_spm {
  // The same model twice, differing only in NormalizerSpec.add_dummy_prefix (index = the flag).
  // The HF slow LlamaTokenizer (legacy=False) edits the ModelProto the same way before loading it.
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor[2];
};

namespace {

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

void set_error(char** error, const std::string& message) {
  if (error) *error = copy_string(message);
}

// Protobuf wire format: a message field that occurs twice is merged, and for a scalar the last value
// wins. Appending `normalizer_spec { add_dummy_prefix: flag }` (ModelProto field 3, NormalizerSpec
// field 3) therefore overrides only that flag, without needing SentencePiece's .pb.h (not shipped by
// Debian's libsentencepiece-dev).
std::string with_dummy_prefix(const char* data, size_t size, bool flag) {
  std::string proto(data, size);
  const char record[4] = {0x1A /* field 3, length-delimited */, 0x02 /* length */,
                          0x18 /* field 3, varint */, static_cast<char>(flag ? 1 : 0)};
  proto.append(record, sizeof(record));
  return proto;
}

const sentencepiece::SentencePieceProcessor& pick(const xsam_spm* model, int add_dummy_prefix) {
  return *model->processor[add_dummy_prefix ? 1 : 0];
}

xsam_spm* load_bytes(const char* data, size_t size, char** error) {
  try {
    if (!data || size == 0) {
      set_error(error, "empty SentencePiece model (0 bytes)");
      return nullptr;
    }
    auto model = std::make_unique<xsam_spm>();
    for (int flag = 0; flag < 2; ++flag) {
      model->processor[flag] = std::make_unique<sentencepiece::SentencePieceProcessor>();
      auto status = model->processor[flag]->LoadFromSerializedProto(with_dummy_prefix(data, size, flag == 1));
      if (!status.ok()) {
        set_error(error, "not a valid SentencePiece model: " + std::string(status.ToString()));
        return nullptr;
      }
      if (model->processor[flag]->GetPieceSize() <= 0) {
        set_error(error, "not a valid SentencePiece model: it has no pieces");
        return nullptr;
      }
    }
    return model.release();
  } catch (const std::exception& e) {
    set_error(error, std::string("SentencePiece failed to load the model: ") + e.what());
  } catch (...) {
    set_error(error, "SentencePiece failed to load the model (unknown exception)");
  }
  return nullptr;
}

xsam_spm* load_file(const char* path, char** error) {
  try {
    if (!path) {
      set_error(error, "load_file: null path");
      return nullptr;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      set_error(error, std::string(path) + ": cannot open");
      return nullptr;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    char* inner = nullptr;
    xsam_spm* model = load_bytes(bytes.data(), bytes.size(), &inner);
    if (!model) {
      set_error(error, std::string(path) + ": " + (inner ? inner : "cannot load"));
      std::free(inner);
    }
    return model;
  } catch (...) {
    set_error(error, std::string(path) + ": cannot load (unknown exception)");
  }
  return nullptr;
}

void free_model(xsam_spm* model) { delete model; }

int32_t vocab_size(const xsam_spm* model) { return model ? model->processor[0]->GetPieceSize() : 0; }

int encode(const xsam_spm* model, const char* text, size_t len, int add_dummy_prefix, int32_t** ids,
           size_t* n_ids, char** error) {
  try {
    if (!model || !ids || !n_ids || (!text && len)) {
      set_error(error, "encode: null argument");
      return 1;
    }
    *ids = nullptr;
    *n_ids = 0;
    std::vector<int> out;
    auto status = pick(model, add_dummy_prefix).Encode(absl::string_view(text ? text : "", len), &out);
    if (!status.ok()) {
      set_error(error, "SentencePiece encode failed: " + std::string(status.ToString()));
      return 1;
    }
    if (out.empty()) return 0;
    *ids = static_cast<int32_t*>(std::malloc(out.size() * sizeof(int32_t)));
    if (!*ids) {
      set_error(error, "SentencePiece encode: out of memory");
      return 1;
    }
    for (size_t i = 0; i < out.size(); ++i) (*ids)[i] = out[i];
    *n_ids = out.size();
    return 0;
  } catch (const std::exception& e) {
    set_error(error, std::string("SentencePiece encode failed: ") + e.what());
  } catch (...) {
    set_error(error, "SentencePiece encode failed (unknown exception)");
  }
  return 1;
}

const char* id_to_piece(const xsam_spm* model, int32_t id, size_t* len) {
  if (!model || id < 0 || id >= model->processor[0]->GetPieceSize()) return nullptr;
  const std::string& piece = model->processor[0]->IdToPiece(id);
  if (len) *len = piece.size();
  return piece.c_str();
}

int32_t piece_to_id(const xsam_spm* model, const char* piece, size_t len) {
  if (!model || (!piece && len)) return -1;
  try {
    const auto& sp = *model->processor[0];
    absl::string_view p(piece ? piece : "", len);
    int id = sp.PieceToId(p);
    // SentencePiece answers unk_id for an unknown piece: tell "<unk>" itself from "not found".
    if (id < 0 || sp.IdToPiece(id) != std::string(p)) return -1;
    return id;
  } catch (...) {
    return -1;
  }
}

int32_t piece_type(const xsam_spm* model, int32_t id) {
  if (!model || id < 0 || id >= model->processor[0]->GetPieceSize()) return -1;
  const auto& sp = *model->processor[0];
  if (sp.IsUnknown(id)) return XSAM_SPM_PIECE_UNKNOWN;
  if (sp.IsControl(id)) return XSAM_SPM_PIECE_CONTROL;
  if (sp.IsByte(id)) return XSAM_SPM_PIECE_BYTE;
  if (sp.IsUnused(id)) return XSAM_SPM_PIECE_UNUSED;
  return XSAM_SPM_PIECE_NORMAL;
}

int decode_pieces(const xsam_spm* model, const char* const* pieces, const size_t* lens, size_t n,
                  int add_dummy_prefix, char** text, size_t* text_len, char** error) {
  try {
    if (!model || !text || (n && (!pieces || !lens))) {
      set_error(error, "decode_pieces: null argument");
      return 1;
    }
    *text = nullptr;
    if (text_len) *text_len = 0;
    std::vector<std::string> list;
    list.reserve(n);
    for (size_t i = 0; i < n; ++i) list.emplace_back(pieces[i] ? pieces[i] : "", pieces[i] ? lens[i] : 0);
    std::string out;
    auto status = pick(model, add_dummy_prefix).Decode(list, &out);
    if (!status.ok()) {
      set_error(error, "SentencePiece decode failed: " + std::string(status.ToString()));
      return 1;
    }
    *text = copy_string(out);
    if (!*text) {
      set_error(error, "SentencePiece decode: out of memory");
      return 1;
    }
    if (text_len) *text_len = out.size();
    return 0;
  } catch (const std::exception& e) {
    set_error(error, std::string("SentencePiece decode failed: ") + e.what());
  } catch (...) {
    set_error(error, "SentencePiece decode failed (unknown exception)");
  }
  return 1;
}

void free_string(char* s) { std::free(s); }
void free_ids(int32_t* ids) { std::free(ids); }

const xsam_spm_api kApi = {
    XSAM_SPM_ABI_VERSION, sizeof(xsam_spm_api), load_bytes,    load_file,   free_model, vocab_size, encode,
    id_to_piece,          piece_to_id,          piece_type,    decode_pieces, free_string, free_ids,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const xsam_spm_api* xsam_spm_get_api(void) { return &kApi; }
