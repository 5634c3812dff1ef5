"""xsam-export: turns a released X-SAM checkpoint plus the Phi-3 tokenizer files into an xsam model directory.

The command-line entry point is `tools/xsam-export` (see `cli.py`); the directory format is described in
`docs/model-directory.md`. Each module holds one idea:

  errors          ExportError, the one exception a user sees
  safetensors_io  reading and streaming-writing safetensors files (written by hand: no `safetensors` module)
  torch_zip       lazy reader of torch.save zip archives through torch's weights-only unpickler
  checkpoint      opens any supported input (.bin, .safetensors, their .index.json) as named tensor references
  layout          the upstream key names: branch detection, the layout of a config (`xsam layout`), strict
                  comparison
  released        the presets (sizes: full = the released model, tiny; behaviour: aaai26, main), read from
                  src/core/presets.json, the file the library embeds
  shapes          hyper-parameters inferred from tensor shapes, with consistency checks
  model_config    assembles xsam's config.json from shapes, presets, an upstream config and overrides
  upstream        finds the xsam CLI and runs `xsam convert-config` (the C++ importer of upstream-style configs)
  tokenizer_files the tokenizer files, added_tokens.json and the special token ids
  weights         dtype conversion, sharding, checksums: the streaming writer of the weight files
  cli             argument parsing and the order of the steps
"""

import os

FORMAT_NAME = "xsam-model"
FORMAT_VERSION = 1
# The checkout this package lives in (tools/xsam_export/ -> the repository root).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
