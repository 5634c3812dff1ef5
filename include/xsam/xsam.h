/*
 * xsam — native inference for X-SAM ("From Segment Anything to Any Segmentation").
 *
 * The C API. Conventions (as llama.cpp / whisper.cpp):
 *   - opaque handles; `*_default_params()` returns a struct by value that the caller edits;
 *   - every call that can fail returns an xsam_status; outputs go through out-pointers;
 *   - on failure, xsam_last_error() gives a message naming the file, tensor, field or argument;
 *   - every `*_free` accepts NULL; no C++ exception ever crosses this boundary.
 *
 * Thread safety (per function):
 *   - xsam_version, xsam_*_default_params, xsam_last_error (thread-local): any thread, any time.
 *   - xsam_model_load / xsam_model_free: a model is immutable after load and may be shared by any
 *     number of contexts on any threads; free it only after all its contexts are freed.
 *   - xsam_model_info_json: any thread, concurrently.
 *   - xsam_context_*: one context per thread at a time (a context holds scratch space, the KV cache
 *     and the per-image cache); different contexts on different threads run concurrently.
 *   - xsam_result_*: a result is owned by the caller; read it from any one thread at a time.
 *
 * ABI (docs/c-api.md): libxsam.so.XSAM_API_VERSION keeps working for programs built against any header of
 * the same XSAM_API_VERSION. Every params struct begins with `struct_size`, which its *_default_params()
 * sets to the sizeof the caller was compiled with: always start from *_default_params(). New fields are
 * only ever appended, so a struct from an older header is read up to its size (the rest keeps its
 * default); one from a newer header than the library's fails with XSAM_ERR_UNSUPPORTED.
 *
 * Out-of-range indices: the xsam_result_* accessors taking a mask index i >= xsam_result_n_masks() return
 * NULL (pointers and strings), -1 (label_id), 0 (score), a box of zeros, or XSAM_ERR_INVALID_ARGUMENT
 * (functions returning a status). Unknown enum values give NULL / "unknown" names and
 * XSAM_ERR_INVALID_ARGUMENT where a status is returned.
 */
#ifndef XSAM_XSAM_H
#define XSAM_XSAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsam/xsam_version.h" /* XSAM_VERSION_MAJOR/MINOR/PATCH/STRING, XSAM_API_VERSION (generated) */

#ifdef __cplusplus
extern "C" {
#endif

/* XSAM_SHARED: defined when a program links the shared library on Windows (dllimport); the Unix build
   exports only what XSAM_API marks (the rest of libxsam is hidden). */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(XSAM_BUILDING_LIBRARY)
#define XSAM_API __declspec(dllexport)
#elif defined(XSAM_SHARED)
#define XSAM_API __declspec(dllimport)
#else
#define XSAM_API
#endif
#elif defined(XSAM_BUILDING_LIBRARY)
#define XSAM_API __attribute__((visibility("default")))
#else
#define XSAM_API
#endif

/* ------------------------------------------------------------------ status and errors */

typedef enum {
  XSAM_OK = 0,
  XSAM_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, an out-of-range value, a bad visual ref ... */
  XSAM_ERR_IO = 2,               /* a file is missing or unreadable */
  XSAM_ERR_FORMAT = 3,           /* a file is corrupt or malformed (safetensors, config, image) */
  XSAM_ERR_MODEL = 4,            /* weights do not match the config (missing/unexpected/mis-shaped) */
  XSAM_ERR_UNSUPPORTED = 5,      /* a valid request this build cannot serve */
  XSAM_ERR_LIMIT = 6,            /* an input exceeds a configured limit (pixels, prompt tokens) */
  XSAM_ERR_CANCELLED = 7,        /* the token callback asked to stop */
  XSAM_ERR_OUT_OF_MEMORY = 8,
  XSAM_ERR_INTERNAL = 9
} xsam_status;

/* Message of the last failed call on this thread; valid until the next xsam call on this thread. */
XSAM_API const char *xsam_last_error(void);
XSAM_API const char *xsam_status_name(xsam_status status);
/* "MAJOR.MINOR.PATCH" of the library that runs: XSAM_VERSION_STRING of the header it was built from. */
XSAM_API const char *xsam_version(void);

/* Frees memory returned by the library (JSON strings, RLE strings). NULL is fine. */
XSAM_API void xsam_free(void *ptr);

/* ------------------------------------------------------------------ model */

typedef struct xsam_model xsam_model;
typedef struct xsam_context xsam_context;
typedef struct xsam_result xsam_result;

/* Runtime dtypes. FP32: weights and math fp32 (a bf16 file is converted at load: twice its bytes in
   memory). BF16: weights and math bf16 (fast only with native bf16 dot products). MIXED: weights stay as the
   file stores them (bf16: half of FP32's memory), math in fp32, widening bf16 on the fly; its results are
   FP32's up to the order of sums. AUTO: BF16 where the CPU path is avx512bf16 (or on CUDA), else MIXED. */
typedef enum { XSAM_DTYPE_AUTO = 0, XSAM_DTYPE_FP32 = 1, XSAM_DTYPE_BF16 = 2, XSAM_DTYPE_MIXED = 3 } xsam_dtype;
typedef enum { XSAM_DEVICE_CPU = 0, XSAM_DEVICE_CUDA = 1 } xsam_device;

typedef struct {
  size_t struct_size;         /* sizeof(xsam_model_params) as compiled: set by xsam_model_default_params() */
  xsam_dtype dtype;           /* runtime dtype (see xsam_dtype); default AUTO */
  xsam_device device;
  int device_index;
  int n_threads;              /* intra-op threads; 0: all physical cores; < 0 or > 4096: INVALID_ARGUMENT */
  bool verify_checksums;      /* check sha256 of the weight files against checksums.json */
  const char *tokenizer_plugin; /* path of libxsam_tokenizer.so; NULL: beside libxsam */
  const char *preset;         /* NULL: as config.json says; "aaai26" / "main" to override behaviour */
  int sliding_window_keys;    /* -1: as config.json says; 0 none, 2047 or 2048 */
  /* CPU kernel path cap: NULL or "auto" = $XSAM_CPU if set, else the best this CPU has; or "generic",
     "avx2", "avx512", "avx512bf16". Above what the CPU has: XSAM_ERR_UNSUPPORTED naming both. The path is
     process-wide (the most recent load sets it); see docs/numerics.md. */
  const char *cpu;
} xsam_model_params;

XSAM_API xsam_model_params xsam_model_default_params(void);
XSAM_API xsam_status xsam_model_load(const char *model_dir, const xsam_model_params *params, xsam_model **out);
/* Parts, sizes, dtypes, parameter counts, presets, tasks — as a JSON object. Free with xsam_free. */
XSAM_API xsam_status xsam_model_info_json(const xsam_model *model, char **out_json);
XSAM_API void xsam_model_free(xsam_model *model);

/* ------------------------------------------------------------------ context */

typedef struct {
  size_t struct_size;          /* sizeof(xsam_context_params) as compiled: set by xsam_context_default_params() */
  int max_context_tokens;      /* KV cache length; <= 0: the model's max_position_embeddings */
  int image_cache_entries;     /* images whose encoder outputs + prefix KV are kept; 0 disables */
  int64_t max_image_pixels;    /* images larger than this are refused (XSAM_ERR_LIMIT) */
} xsam_context_params;

XSAM_API xsam_context_params xsam_context_default_params(void);
XSAM_API xsam_status xsam_context_new(xsam_model *model, const xsam_context_params *params, xsam_context **out);
XSAM_API void xsam_context_free(xsam_context *ctx);

/* ------------------------------------------------------------------ inputs */

typedef enum {
  XSAM_PIXEL_RGB8 = 0,
  XSAM_PIXEL_RGBA8 = 1,  /* alpha ignored */
  XSAM_PIXEL_BGR8 = 2,
  XSAM_PIXEL_GRAY8 = 3
} xsam_pixel_format;

typedef struct {
  const uint8_t *pixels;
  int width, height;
  int stride;               /* bytes per row; 0 = tightly packed */
  xsam_pixel_format format;
} xsam_image;

typedef enum { XSAM_REF_POINT = 0, XSAM_REF_BOX = 1, XSAM_REF_SCRIBBLE = 2, XSAM_REF_MASK = 3 } xsam_ref_kind;

/* A visual reference in original-image pixels. POINT: xy = {x, y}; BOX: {x0, y0, x1, y1};
   SCRIBBLE: a polyline {x0, y0, x1, y1, ...}; MASK: `mask` of mask_width × mask_height (= image size),
   non-zero = inside. Rasterisation rules: docs/visual-refs.md. */
typedef struct {
  xsam_ref_kind kind;
  const float *xy;
  size_t n_xy;              /* number of floats in xy */
  const uint8_t *mask;
  int mask_width, mask_height;
} xsam_visual_ref;

typedef enum {
  XSAM_TASK_AUTO = 0,
  XSAM_TASK_CHAT,
  XSAM_TASK_SEMANTIC,
  XSAM_TASK_INSTANCE,
  XSAM_TASK_PANOPTIC,
  XSAM_TASK_REFERRING,
  XSAM_TASK_REASONING,
  XSAM_TASK_GCG,
  XSAM_TASK_INTERACTIVE,
  XSAM_TASK_VGD,
  XSAM_TASK_OPEN_VOCAB
} xsam_task;

typedef enum {
  XSAM_MODE_DEFAULT = 0,       /* teacher-forced for fixed-answer segmentation tasks, generation for chat/GCG */
  XSAM_MODE_TEACHER_FORCED,
  XSAM_MODE_GENERATE
} xsam_mode;

/* Called for every generated token; return false to cancel (the call then fails with XSAM_ERR_CANCELLED).
   `piece` is always whole, valid UTF-8: the bytes of a character split across tokens are held back and
   arrive with the token that completes it (that token's piece holds the whole character; the earlier
   token's piece is ""), and undecodable bytes arrive as U+FFFD. The pieces joined are the generated text. */
typedef bool (*xsam_token_callback)(const char *piece, int32_t token_id, void *user_data);

typedef struct {
  size_t struct_size;          /* sizeof(xsam_segment_params) as compiled: set by xsam_segment_default_params() */
  xsam_task task;
  xsam_mode mode;
  const char *const *classes;  /* class names for generic / open-vocab tasks (or use "ins: a, b; sem: c" in the prompt) */
  size_t n_classes;
  size_t n_thing_classes;      /* the first n_thing_classes of `classes` are things (panoptic); rest stuff */
  const char *question;        /* explicit question text instead of the task's first template (NULL = template) */
  const char *answer;          /* explicit teacher-forced answer (NULL = the task's first answer template) */
  bool add_bos;                /* default false (upstream demo); true reproduces the paper's evaluation prompts */
  int max_new_tokens;          /* <= 0: the preset's default (512 aaai26) */
  float temperature;           /* 0 = greedy (default) */
  int top_k;
  float top_p;
  uint64_t seed;               /* sampling and the vision sampler's draws; default 0 */
  int question_template;       /* index into the task's question templates (docs/design/upstream-facts.md#tasks-and-templates); default 0 */
  int answer_template;         /* index into the task's answer templates; default 0 */
  float score_threshold;       /* instance / panoptic / VGD / interactive keep threshold; default 0.5 */
  float overlap_threshold;     /* panoptic; default 0.8 */
  float mask_threshold;        /* referring / GCG foreground probability (strict >); default 0.5 */
  xsam_token_callback on_token;
  void *user_data;
} xsam_segment_params;

XSAM_API xsam_segment_params xsam_segment_default_params(void);

/* Names of tasks, modes and dtypes as the CLI, the HTTP API, the Python binding and the result JSON spell
   them (as whisper_lang_str / whisper_lang_id):
     tasks  "auto" "chat" "semantic" "instance" "panoptic" "referring" "reasoning" "gcg" "interactive" "vgd"
            "open_vocab";   modes "default" "teacher_forced" "generate";   dtypes "auto" "fp32" "bf16" "mixed".
   *_name returns NULL for a value outside the enum; the values with names are 0, 1, 2, ... up to the first
   NULL, so a program can list them. *_from_name accepts "-" for "_" ("open-vocab") and is case-sensitive;
   an unknown name is XSAM_ERR_INVALID_ARGUMENT with a message listing the valid ones. */
XSAM_API const char *xsam_task_name(xsam_task task);
XSAM_API xsam_status xsam_task_from_name(const char *name, xsam_task *out);
XSAM_API const char *xsam_mode_name(xsam_mode mode);
XSAM_API xsam_status xsam_mode_from_name(const char *name, xsam_mode *out);
XSAM_API const char *xsam_dtype_name(xsam_dtype dtype);
XSAM_API xsam_status xsam_dtype_from_name(const char *name, xsam_dtype *out);

/* How many leading bytes of s[0, n) are whole, well-formed UTF-8 (RFC 3629: no overlong forms, no UTF-16
   surrogates, nothing above U+10FFFF); n when all of them are. The library's own rule for every text it
   takes, for front doors that check or repair text before handing it over. s may be NULL when n is 0. */
XSAM_API size_t xsam_utf8_valid_prefix(const char *s, size_t n);

/* Runs one request. `image` is required; `prompt` may be NULL for tasks that need none
   (interactive, VGD). `refs` may be NULL when n_refs == 0. */
XSAM_API xsam_status xsam_segment(xsam_context *ctx, const xsam_image *image, const char *prompt,
                                  const xsam_visual_ref *refs, size_t n_refs,
                                  const xsam_segment_params *params, xsam_result **out);

/* Decodes an image file (PNG, JPEG, ...) into RGB8, as PIL's Image.open(f).convert("RGB").
   Free the pixels with xsam_image_free (xsam_free(pixels) works too). */
XSAM_API xsam_status xsam_image_load(const char *path, xsam_image *out);

/* Loads a visual-prompt mask file as upstream's CLI does: 8-bit grey (PIL convert("L")), then 1 where
   the value is > 128. *out_mask (width × height bytes, 0/1) is freed with xsam_free. */
XSAM_API xsam_status xsam_mask_load(const char *path, uint8_t **out_mask, int *out_width, int *out_height);

/* Decodes an image held in memory (PNG, JPEG, ...). Free the pixels with xsam_image_free. */
XSAM_API xsam_status xsam_image_decode(const uint8_t *bytes, size_t size, xsam_image *out);

/* xsam_image_decode with a limit: an image of more than max_pixels pixels (width × height) is refused with
   XSAM_ERR_LIMIT, from its header before any pixel is allocated where the format allows (PNG, JPEG, BMP,
   WebP, GIF, TIFF), so a small file that would decode into gigabytes costs nothing. max_pixels <= 0: no
   limit but OpenCV's own (2^30 pixels). xsam_image_decode applies 178956970 (PIL's refusal threshold). */
XSAM_API xsam_status xsam_image_decode_limit(const uint8_t *bytes, size_t size, int64_t max_pixels, xsam_image *out);

/* Frees the pixels of an image filled by xsam_image_load / xsam_image_decode and zeroes *image (so a second
   call is harmless). NULL, and an image with NULL pixels, are fine. Never pass an image whose pixels the
   caller owns. */
XSAM_API void xsam_image_free(xsam_image *image);

/* ------------------------------------------------------------------ results */

XSAM_API void xsam_result_free(xsam_result *result);
XSAM_API xsam_task xsam_result_task(const xsam_result *result);
XSAM_API const char *xsam_result_text(const xsam_result *result);      /* cleaned, as upstream's demo */
XSAM_API const char *xsam_result_raw_text(const xsam_result *result);  /* decoded generated ids */
XSAM_API size_t xsam_result_n_masks(const xsam_result *result);
XSAM_API int xsam_result_width(const xsam_result *result);
XSAM_API int xsam_result_height(const xsam_result *result);
/* Mask i as width × height bytes (0 / 1), row-major, owned by the result. */
XSAM_API const uint8_t *xsam_result_mask(const xsam_result *result, size_t i);
/* Mask i as a COCO RLE compressed counts string (pycocotools format). Free with xsam_free. */
XSAM_API xsam_status xsam_result_mask_rle(const xsam_result *result, size_t i, char **out_counts);
XSAM_API const char *xsam_result_label(const xsam_result *result, size_t i); /* class name, phrase or "region k" */
XSAM_API int xsam_result_label_id(const xsam_result *result, size_t i);     /* class / phrase / region index */
XSAM_API float xsam_result_score(const xsam_result *result, size_t i);
XSAM_API void xsam_result_box(const xsam_result *result, size_t i, float box_xyxy[4]);
/* Semantic map (class index per pixel, -1 = none) or NULL; panoptic map (segment id, 0 = void) or NULL. */
XSAM_API const int32_t *xsam_result_semantic_map(const xsam_result *result);
XSAM_API const int32_t *xsam_result_panoptic_map(const xsam_result *result);
/* Seconds spent per stage, by name ("preprocess", "vision", "prefill", "decode", "decoder", "postprocess",
   "total"); -1 if the stage did not run. */
XSAM_API double xsam_result_timing(const xsam_result *result, const char *stage);
/* The whole result (text, masks as COCO RLE, labels, scores, boxes, segments, timings) as JSON
   (schema: docs/result-json.md). Free with xsam_free. */
XSAM_API xsam_status xsam_result_json(const xsam_result *result, char **out_json);
/* A PNG of the masks blended over `image` (the image the result was computed on), with labels and
   scores. Free *out_png with xsam_free. */
XSAM_API xsam_status xsam_result_overlay_png(const xsam_result *result, const xsam_image *image, uint8_t **out_png,
                                             size_t *out_size);
/* The semantic map (class index + 1, 0 = none) or the panoptic map (segment id, 0 = void) as a 16-bit grey
   PNG; XSAM_ERR_INVALID_ARGUMENT when the result has neither. Free *out_png with xsam_free. */
XSAM_API xsam_status xsam_result_map_png(const xsam_result *result, uint8_t **out_png, size_t *out_size);
/* Mask i as a PNG (0 / 255). Free *out_png with xsam_free. */
XSAM_API xsam_status xsam_result_mask_png(const xsam_result *result, size_t i, uint8_t **out_png, size_t *out_size);

/* ------------------------------------------------------------------ tools */

/* Writes a complete model directory with random weights in the exact checkpoint layout:
   size_preset "tiny" (test sizes) or "full" (the released X-SAM sizes); dtype FP32 or BF16 (AUTO = BF16);
   tokenizer_dir: the Phi-3 tokenizer files (NULL: the bundled test files). */
XSAM_API xsam_status xsam_random_model(const char *out_dir, const char *size_preset, xsam_dtype dtype, uint64_t seed,
                                       const char *tokenizer_dir);
/* Converts an upstream-style config.json (as in the golden sets) into xsam's own config.json. */
XSAM_API xsam_status xsam_convert_config(const char *upstream_config, const char *out_json);

#ifdef __cplusplus
}
#endif

#endif /* XSAM_XSAM_H */
