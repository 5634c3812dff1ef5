/* segment.c — the C API in one page: load a model, segment one image, print the masks, write the
 * result as JSON and an overlay PNG.
 *
 *   segment MODEL_DIR IMAGE PROMPT [OUT_PREFIX] [--box x0,y0,x1,y1]
 *
 * The task is inferred from the inputs (XSAM_TASK_AUTO): "ins: person, dog; sem: sky" segments those
 * classes, a box makes it interactive segmentation, anything else is a chat question whose answer is
 * streamed token by token. Writes OUT_PREFIX.json and OUT_PREFIX.png (default prefix "segment-out").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsam/xsam.h"

/* Prints the failed call's status and the library's message, and says so to the caller. */
static int failed(xsam_status s, const char *what) {
  if (s == XSAM_OK) return 0;
  fprintf(stderr, "%s: %s: %s\n", what, xsam_status_name(s), xsam_last_error());
  return 1;
}

static bool print_piece(const char *piece, int32_t token_id, void *user_data) {
  (void)token_id;
  (void)user_data;
  fputs(piece, stdout);
  fflush(stdout);
  return true; /* false would cancel: xsam_segment then returns XSAM_ERR_CANCELLED */
}

static int write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *positional[4] = {NULL, NULL, NULL, "segment-out"};
  int n_positional = 0;
  float box[4];
  int has_box = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--box") == 0 && i + 1 < argc) {
      has_box = sscanf(argv[++i], "%f,%f,%f,%f", &box[0], &box[1], &box[2], &box[3]) == 4;
      if (!has_box) { fprintf(stderr, "--box wants x0,y0,x1,y1\n"); return 2; }
    } else if (n_positional < 4) {
      positional[n_positional++] = argv[i];
    }
  }
  if (n_positional < 3) {
    fprintf(stderr, "usage: %s MODEL_DIR IMAGE PROMPT [OUT_PREFIX] [--box x0,y0,x1,y1]\n", argv[0]);
    return 2;
  }
  const char *model_dir = positional[0], *image_path = positional[1], *prompt = positional[2];
  const char *out_prefix = positional[3];

  int rc = 1;
  xsam_model *model = NULL;
  xsam_context *ctx = NULL;
  xsam_result *result = NULL;
  xsam_image image = {0};
  char *json = NULL;
  uint8_t *png = NULL;
  size_t png_size = 0;
  char path[4096];

  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = XSAM_DTYPE_FP32;
  if (failed(xsam_model_load(model_dir, &mp, &model), "load model")) goto done;
  if (failed(xsam_context_new(model, NULL, &ctx), "new context")) goto done;
  if (failed(xsam_image_load(image_path, &image), "load image")) goto done;

  xsam_segment_params sp = xsam_segment_default_params();
  sp.max_new_tokens = 64;
  sp.on_token = print_piece;
  xsam_visual_ref ref = {0};
  ref.kind = XSAM_REF_BOX;
  ref.xy = box;
  ref.n_xy = 4;
  if (failed(xsam_segment(ctx, &image, prompt, has_box ? &ref : NULL, has_box ? 1 : 0, &sp, &result), "segment"))
    goto done;

  printf("\ntext: %s\n", xsam_result_text(result));
  for (size_t i = 0; i < xsam_result_n_masks(result); ++i) {
    float b[4];
    xsam_result_box(result, i, b);
    const uint8_t *m = xsam_result_mask(result, i);
    size_t area = 0;
    for (size_t k = 0; k < (size_t)xsam_result_width(result) * (size_t)xsam_result_height(result); ++k) area += m[k];
    printf("mask %zu: %s (score %.3f) box [%.0f, %.0f, %.0f, %.0f] area %zu\n", i, xsam_result_label(result, i),
           xsam_result_score(result, i), b[0], b[1], b[2], b[3], area);
  }
  printf("total %.3f s\n", xsam_result_timing(result, "total"));

  if (failed(xsam_result_json(result, &json), "result json")) goto done;
  snprintf(path, sizeof path, "%s.json", out_prefix);
  if (write_file(path, json, strlen(json))) goto done;
  if (failed(xsam_result_overlay_png(result, &image, &png, &png_size), "overlay")) goto done;
  snprintf(path, sizeof path, "%s.png", out_prefix);
  if (write_file(path, png, png_size)) goto done;
  printf("wrote %s.json and %s.png\n", out_prefix, out_prefix);
  rc = 0;

done: /* every free accepts NULL */
  xsam_free(png);
  xsam_free(json);
  xsam_image_free(&image);
  xsam_result_free(result);
  xsam_context_free(ctx);
  xsam_model_free(model);
  return rc;
}
