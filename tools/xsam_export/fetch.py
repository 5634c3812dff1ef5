"""`xsam-export --fetch DIR`: downloads the release with the Hugging Face Hub client (`hf`, huggingface_hub
>= 1.0; not needed otherwise) and verifies what it got, then exports from DIR.

What is downloaded (models/README.md gives the same commands):
  DIR/X-SAM/<XSAM_FILE>                       hao9610/X-SAM, the s3 (stage-3) Phi-3 checkpoint only
  DIR/phi3-tokenizer/<PHI3_FILES>             microsoft/Phi-3-mini-4k-instruct, the tokenizer files only
  DIR/siglip2/preprocessor_config.json        google/siglip2-so400m-patch14-384
  DIR/sam/preprocessor_config.json            facebook/sam-vit-large

Verification: `hf download --local-dir` records, per file, the Hub's commit and ETag in
`<local-dir>/.cache/huggingface/download/<file>.metadata` (commit, etag, timestamp: one a line). For a
Git LFS file the ETag is the sha256 of its content; for a plain git file it is the git blob id (sha1 of
"blob <size>\\0" + content). Each downloaded file is hashed and compared with it, and a --revision given
must be the recorded commit. Phi-3's tokenizer.model and tokenizer.json are also compared with the files
xsam was checked against (KNOWN_SHA256): a different tokenizer.model is refused, a different tokenizer.json
is reported and then checked field by field like any other.
"""
import hashlib
import os
import shutil
import subprocess

from .errors import ExportError
from .tokenizer_files import PHI3_TOKENIZER_MODEL_SHA256

XSAM_REPO = "hao9610/X-SAM"
XSAM_FILE = ("s3_mixed_finetune/xsam_phi3_mini_4k_instruct_siglip2_so400m_p14_384_sam_large_m2f_gpu16_mixed_finetune/"
             "pytorch_model.bin")
PHI3_REPO = "microsoft/Phi-3-mini-4k-instruct"
PHI3_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "added_tokens.json")
SIGLIP_REPO = "google/siglip2-so400m-patch14-384"
SAM_REPO = "facebook/sam-vit-large"
PROCESSOR_FILE = "preprocessor_config.json"
# The Phi-3 files xsam's tokenizer was checked against (tests/data/tokenizer/SOURCE.md).
KNOWN_SHA256 = {
    "tokenizer.model": PHI3_TOKENIZER_MODEL_SHA256,
    "tokenizer.json": "9e2ae3d66819f163cdcfedba5078f3a3af8118c2712491ed60912f77886bda6f",
}


def _hash(path, algorithm, prefix=b""):
    h = hashlib.new(algorithm)
    h.update(prefix)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def verify_download(local_dir, filename, revision=None):
    """Checks local_dir/filename against the Hub's record of it; returns its sha256."""
    path = os.path.join(local_dir, filename)
    meta = os.path.join(local_dir, ".cache", "huggingface", "download", filename + ".metadata")
    if not os.path.isfile(path):
        raise ExportError(f"{path}: not downloaded")
    try:
        with open(meta, encoding="utf-8") as f:
            lines = f.read().splitlines()
        commit, etag = lines[0].strip(), lines[1].strip().strip('"')
    except (OSError, IndexError):
        raise ExportError(f"{meta}: missing or unreadable: cannot verify {path} (was it downloaded with "
                          f"'hf download ... --local-dir'?)") from None
    if revision and len(revision) == 40 and commit != revision:
        raise ExportError(f"{path}: downloaded from commit {commit}, not the requested revision {revision}")
    sha256 = _hash(path, "sha256")
    if len(etag) == 64:  # Git LFS: the ETag is the content's sha256
        if sha256 != etag:
            raise ExportError(f"{path}: sha256 {sha256} differs from the Hub's {etag} (corrupt download)")
    elif len(etag) == 40:  # plain git file: the ETag is the blob id
        blob = _hash(path, "sha1", b"blob %d\0" % os.path.getsize(path))
        if blob != etag:
            raise ExportError(f"{path}: git blob id {blob} differs from the Hub's {etag} (corrupt download)")
    else:
        raise ExportError(f"{meta}: ETag {etag!r} is neither a sha256 nor a git blob id: cannot verify {path}")
    return sha256


def _hf_binary(explicit):
    hf = explicit or shutil.which("hf")
    if not hf:
        raise ExportError("--fetch needs the Hugging Face Hub client 'hf' (huggingface_hub >= 1.0) on PATH or "
                          "--hf PATH; on Debian 12: python3 -m venv ~/.venvs/hf && ~/.venvs/hf/bin/pip install "
                          "'huggingface_hub>=1.0' (or pipx install huggingface_hub), see models/README.md")
    return hf


def _download(hf, repo, files, local_dir, revision, log):
    cmd = [hf, "download", repo, *files, "--local-dir", local_dir]
    if revision:
        cmd += ["--revision", revision]
    log("running: " + " ".join(cmd))
    run = subprocess.run(cmd)
    if run.returncode != 0:
        raise ExportError(f"'{' '.join(cmd)}' failed (exit status {run.returncode})")


def fetch(directory, log, hf=None, phi3_revision=None, xsam_revision=None):
    """Downloads and verifies everything; returns (checkpoint, tokenizer dir, siglip json, sam json)."""
    hf = _hf_binary(hf)
    plan = [(XSAM_REPO, [XSAM_FILE], "X-SAM", xsam_revision),
            (PHI3_REPO, list(PHI3_FILES), "phi3-tokenizer", phi3_revision),
            (SIGLIP_REPO, [PROCESSOR_FILE], "siglip2", None),
            (SAM_REPO, [PROCESSOR_FILE], "sam", None)]
    for repo, files, sub, revision in plan:
        local = os.path.join(directory, sub)
        _download(hf, repo, files, local, revision, log)
        for name in files:
            sha = verify_download(local, name, revision)
            log(f"verified {os.path.join(local, name)} (sha256 {sha})")
            if repo == PHI3_REPO and name in KNOWN_SHA256 and sha != KNOWN_SHA256[name]:
                if name == "tokenizer.model":
                    raise ExportError(f"{os.path.join(local, name)}: sha256 {sha} is not Phi-3-mini's tokenizer.model "
                                      f"({KNOWN_SHA256[name]})")
                log(f"note: {name} is not the file xsam was checked against (sha256 {KNOWN_SHA256[name]}); "
                    f"it is checked field by field next")
    return (os.path.join(directory, "X-SAM", XSAM_FILE), os.path.join(directory, "phi3-tokenizer"),
            os.path.join(directory, "siglip2", PROCESSOR_FILE), os.path.join(directory, "sam", PROCESSOR_FILE))
