/* A C program built outside the xsam tree against an installed xsam, with `pkg-config --cflags --libs xsam`.
 *   consumer_c MODEL_DIR IMAGE
 * Checks the version macros against the library, then segments IMAGE interactively with one box and checks
 * the result's shape; prints one line "c: version V masks N size WxH label L" for the test to compare. */
#include <stdio.h>
#include <string.h>

#include <xsam/xsam.h>

static int failed(xsam_status s, const char *what) {
  if (s == XSAM_OK) return 0;
  fprintf(stderr, "consumer_c: %s: %s: %s\n", what, xsam_status_name(s), xsam_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: consumer_c MODEL_DIR IMAGE\n");
    return 2;
  }
  char header_version[64];
  snprintf(header_version, sizeof header_version, "%d.%d.%d", XSAM_VERSION_MAJOR, XSAM_VERSION_MINOR,
           XSAM_VERSION_PATCH);
  if (strcmp(header_version, xsam_version()) != 0 || strcmp(XSAM_VERSION_STRING, xsam_version()) != 0) {
    fprintf(stderr, "consumer_c: header says %s (%s), library says %s\n", header_version, XSAM_VERSION_STRING,
            xsam_version());
    return 1;
  }
  int rc = 1;
  xsam_model *model = NULL;
  xsam_context *ctx = NULL;
  xsam_result *result = NULL;
  xsam_image image = {0};
  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = XSAM_DTYPE_FP32;
  mp.n_threads = 1;
  if (failed(xsam_model_load(argv[1], &mp, &model), "xsam_model_load")) goto done;
  if (failed(xsam_context_new(model, NULL, &ctx), "xsam_context_new")) goto done;
  if (failed(xsam_image_load(argv[2], &image), "xsam_image_load")) goto done;

  float box[4] = {10.0f, 10.0f, (float)image.width / 2, (float)image.height / 2};
  xsam_visual_ref ref = {0};
  ref.kind = XSAM_REF_BOX;
  ref.xy = box;
  ref.n_xy = 4;
  xsam_segment_params sp = xsam_segment_default_params();
  sp.task = XSAM_TASK_INTERACTIVE;
  sp.score_threshold = 0.0f; /* random weights: keep the region's mask whatever its score */
  if (failed(xsam_segment(ctx, &image, NULL, &ref, 1, &sp, &result), "xsam_segment")) goto done;
  if (xsam_result_width(result) != image.width || xsam_result_height(result) != image.height) {
    fprintf(stderr, "consumer_c: result is %dx%d, image %dx%d\n", xsam_result_width(result),
            xsam_result_height(result), image.width, image.height);
    goto done;
  }
  printf("c: version %s masks %zu size %dx%d label %s\n", xsam_version(), xsam_result_n_masks(result),
         xsam_result_width(result), xsam_result_height(result),
         xsam_result_n_masks(result) ? xsam_result_label(result, 0) : "-");
  rc = 0;
done:
  xsam_image_free(&image);
  xsam_result_free(result);
  xsam_context_free(ctx);
  xsam_model_free(model);
  return rc;
}
