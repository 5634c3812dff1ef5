/* The plain C interface of the SentencePiece plugin (libxsam_tokenizer.so).
 *
 * Why a plugin: Debian's SentencePiece links protobuf-lite, whose symbols clash with the protobuf copy
 * inside libtorch; a program that links both crashes at start-up. The plugin is the only thing that
 * links SentencePiece, and libxsam loads it into its own link-map namespace with dlmopen (see
 * src/text/plugin_loader.h), so the two protobufs never meet.
 *
 * Rules of this interface:
 *  - Only C types cross it; no exception escapes the plugin (every entry point catches).
 *  - Memory is freed on the side that allocated it: strings and id arrays returned by the plugin are
 *    released with `free_string` / `free_ids` of the same table.
 *  - A loaded model is immutable; every function taking a `const xsam_spm*` may be called from several
 *    threads at once.
 *  - Text is UTF-8 with an explicit length (it may contain NUL bytes).
 */
#ifndef XSAM_SPM_API_H
#define XSAM_SPM_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XSAM_SPM_ABI_VERSION 1u
#define XSAM_SPM_ENTRY_POINT "xsam_spm_get_api"

typedef struct xsam_spm xsam_spm; /* one loaded tokenizer.model */

/* SentencePiece piece kinds, as reported by piece_type. */
enum {
  XSAM_SPM_PIECE_NORMAL = 0,
  XSAM_SPM_PIECE_UNKNOWN = 1,
  XSAM_SPM_PIECE_CONTROL = 2,
  XSAM_SPM_PIECE_BYTE = 3,
  XSAM_SPM_PIECE_UNUSED = 4
};

typedef struct xsam_spm_api {
  uint32_t abi_version; /* XSAM_SPM_ABI_VERSION */
  uint32_t struct_size; /* sizeof(xsam_spm_api) of the plugin */

  /* Loads a serialized ModelProto (the bytes of tokenizer.model). NULL on failure, with *error set
   * (free it with free_string). */
  xsam_spm *(*load_bytes)(const char *data, size_t size, char **error);
  /* Same, reading the file at `path` (the error then names it). */
  xsam_spm *(*load_file)(const char *path, char **error);
  void (*free_model)(xsam_spm *model);

  /* Number of pieces of the SentencePiece model (32000 for Llama-2 / Phi-3). */
  int32_t (*vocab_size)(const xsam_spm *model);

  /* Encodes UTF-8 text to ids. add_dummy_prefix selects the normalizer spec: 1 = the model's own
   * ("▁" prepended, what HF's fast tokenizer does per text segment), 0 = no prefix (what HF's slow
   * LlamaTokenizer with legacy=False does). Returns 0 on success; *ids is freed with free_ids. */
  int (*encode)(const xsam_spm *model, const char *text, size_t len, int add_dummy_prefix, int32_t **ids,
                size_t *n_ids, char **error);

  /* Piece text of an id (plugin-owned, valid while the model lives), or NULL when out of range. */
  const char *(*id_to_piece)(const xsam_spm *model, int32_t id, size_t *len);
  /* Id of a piece, or -1 when the model has no such piece. */
  int32_t (*piece_to_id)(const xsam_spm *model, const char *piece, size_t len);
  /* XSAM_SPM_PIECE_* of an id, or -1 when out of range. */
  int32_t (*piece_type)(const xsam_spm *model, int32_t id);

  /* SentencePiece's own DecodePieces over piece strings (byte pieces fused, invalid UTF-8 replaced,
   * "▁" -> " "). add_dummy_prefix as for encode (it decides whether a leading "▁" is dropped).
   * Returns 0 on success; *text is freed with free_string. */
  int (*decode_pieces)(const xsam_spm *model, const char *const *pieces, const size_t *lens, size_t n,
                       int add_dummy_prefix, char **text, size_t *text_len, char **error);

  void (*free_string)(char *s);
  void (*free_ids)(int32_t *ids);
} xsam_spm_api;

/* The plugin's only exported symbol (XSAM_SPM_ENTRY_POINT). */
typedef const xsam_spm_api *(*xsam_spm_get_api_fn)(void);
const xsam_spm_api *xsam_spm_get_api(void);

#ifdef __cplusplus
}
#endif

#endif /* XSAM_SPM_API_H */
