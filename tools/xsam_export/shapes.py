"""Hyper-parameters read from tensor shapes.

`infer_sizes(shapes, spelling, base)` returns a copy of `base` (an xsam-format config holding the values
that shapes cannot tell) with every size that the shapes do tell replaced by the measured value, and the
set of "section.field" names so measured. Where a base value and the shapes must agree (a head count
that has to divide a width, an image size that has to give the position grid, ...) a disagreement is an
error naming both.

What shapes tell, per part (names relative to the part's prefix):
  siglip      hidden, channels, patch (patch_embedding), grid (position_embedding), layers, MLP width
  projectors  in/out widths, pixel-shuffle ratio (input width / feeding width = k^2), depth, bias
  sam         hidden, channels, patch, image size (pos_embed grid x patch), layers, MLP width, qkv bias,
              heads (rel_pos head dim), window size and global layers (rel_pos lengths 2w-1 vs 2*grid-1),
              neck width (neck or shared_image_embedding)
  connector   per-level input width, hidden width, scale factor (last conv out / in), bias
  llm         vocab, hidden, layers, MLP width; KV heads once the head count is known (fused qkv rows)
  mask2former feature channels, levels, widths, encoder/decoder layers and FFN widths, queries,
              MSDA points once the head count is known, FPN levels (checked against the strides)
"""
import copy
import math
import re

from .errors import ExportError


class _Shapes:
    def __init__(self, shapes):
        self._shapes = shapes

    def __contains__(self, name):
        return name in self._shapes

    def indices(self, pattern):
        """The distinct first groups of `pattern` (a regex) over all names."""
        rx = re.compile(pattern)
        return {m.group(1) for n in self._shapes for m in [rx.match(n)] if m}

    def get(self, name, why):
        if name not in self._shapes:
            raise ExportError(f"tensor '{name}' is missing (needed for {why})")
        return tuple(self._shapes[name])

    def count(self, prefix, why):
        """Number of numbered children `prefix<N>.`: max index + 1 (gaps show up as missing tensors later)."""
        found = {int(i) for i in self.indices(re.escape(prefix) + r"(\d+)\.")}
        if not found:
            raise ExportError(f"no tensors named '{prefix}<N>.*' (needed for {why})")
        return max(found) + 1


def _fail(field, message):
    raise ExportError(f"{field}: {message}")


def infer_sizes(shapes, spelling, base):
    s = _Shapes(shapes)
    c = copy.deepcopy(base)
    derived = set()

    def put(section, field, value):
        c[section][field] = value
        derived.add(f"{section}.{field}")

    _siglip(s, c, put, spelling)
    _sam(s, c, put)
    _llm(s, c, put)
    _projector(s, c, put, "visual_projector", c["siglip"]["hidden_size"], "siglip.hidden_size")
    _projector(s, c, put, "seg_projector", c["sam"]["hidden_size"], "sam.hidden_size")
    _projector(s, c, put, "llm_projector", c["llm"]["hidden_size"], "llm.hidden_size")
    _connector(s, c, put)
    _mask2former(s, c, put, spelling)
    c["preprocess"]["siglip_size"] = c["siglip"]["image_size"]
    c["preprocess"]["sam_size"] = c["sam"]["image_size"]
    return c, derived


def _siglip(s, c, put, spelling):
    p = spelling.vision_prefix + "vision_model."
    h, ch, ph, pw = s.get(p + "embeddings.patch_embedding.weight", "the SigLIP width and patch size")
    if ph != pw:
        _fail("siglip.patch_size", f"non-square patch {ph}x{pw} is not supported")
    positions, _ = s.get(p + "embeddings.position_embedding.weight", "the SigLIP grid")
    grid = math.isqrt(positions)
    if grid * grid != positions:
        _fail("siglip.image_size", f"{positions} position embeddings do not form a square grid")
    put("siglip", "hidden_size", h)
    put("siglip", "num_channels", ch)
    put("siglip", "patch_size", ph)
    put("siglip", "num_layers", s.count(p + "encoder.layers.", "the SigLIP depth"))
    put("siglip", "intermediate_size", s.get(p + "encoder.layers.0.mlp.fc1.weight", "the SigLIP MLP width")[0])
    size = c["siglip"]["image_size"]
    if size // ph != grid:
        _fail("siglip.image_size", f"{size} with patch {ph} gives a {size // ph}x{size // ph} grid, but the "
                                   f"checkpoint has {grid}x{grid} position embeddings (e.g. {grid * ph})")
    if h % c["siglip"]["num_heads"]:
        _fail("siglip.num_heads", f"{c['siglip']['num_heads']} heads do not divide the width {h}")


def _sam(s, c, put):
    p = "segmentor.encoder."
    m = c["sam"]
    h, ch, ph, pw = s.get(p + "patch_embed.projection.weight", "the SAM width and patch size")
    if ph != pw:
        _fail("sam.patch_size", f"non-square patch {ph}x{pw} is not supported")
    put("sam", "hidden_size", h)
    put("sam", "num_channels", ch)
    put("sam", "patch_size", ph)
    layers = s.count(p + "layers.", "the SAM depth")
    put("sam", "num_layers", layers)
    put("sam", "mlp_dim", s.get(p + "layers.0.mlp.lin1.weight", "the SAM MLP width")[0])
    put("sam", "qkv_bias", p + "layers.0.attn.qkv.bias" in s)
    put("sam", "use_abs_pos", p + "pos_embed" in s)
    put("sam", "use_rel_pos", p + "layers.0.attn.rel_pos_h" in s)
    if m["use_abs_pos"]:
        _, gh, gw, _ = s.get(p + "pos_embed", "the SAM grid")
        if gh != gw:
            _fail("sam.image_size", f"non-square position grid {gh}x{gw}")
        put("sam", "image_size", gh * ph)
    grid = m["image_size"] // ph
    if m["use_rel_pos"]:
        lengths = [s.get(f"{p}layers.{n}.attn.rel_pos_h", "SAM attention windows") for n in range(layers)]
        head_dim = lengths[0][1]
        if h % head_dim:
            _fail("sam.num_heads", f"relative-position head dim {head_dim} does not divide the width {h}")
        put("sam", "num_heads", h // head_dim)
        global_layers = [n for n, (length, _) in enumerate(lengths) if length == 2 * grid - 1]
        windows = {(length + 1) // 2 for n, (length, _) in enumerate(lengths) if n not in global_layers}
        if len(windows) > 1:
            _fail("sam.window_size", f"windowed layers disagree on the window: {sorted(windows)}")
        put("sam", "global_attn_indexes", global_layers)
        if windows:
            put("sam", "window_size", windows.pop())
    elif h % m["num_heads"]:
        _fail("sam.num_heads", f"{m['num_heads']} heads do not divide the width {h}")
    if p + "neck.conv1.weight" in s:
        put("sam", "output_channels", s.get(p + "neck.conv1.weight", "the SAM neck width")[0])
    elif "segmentor.shared_image_embedding.positional_embedding" in s:
        put("sam", "output_channels", 2 * s.get("segmentor.shared_image_embedding.positional_embedding", "")[1])


def _llm(s, c, put):
    l = c["llm"]
    vocab, h = s.get("llm.model.embed_tokens.weight", "the LLM vocabulary and width")
    put("llm", "vocab_size", vocab)
    put("llm", "hidden_size", h)
    put("llm", "num_layers", s.count("llm.model.layers.", "the LLM depth"))
    gate_up = s.get("llm.model.layers.0.mlp.gate_up_proj.weight", "the LLM MLP width")[0]
    if gate_up % 2:
        _fail("llm.intermediate_size", f"fused gate_up_proj has an odd row count {gate_up}")
    put("llm", "intermediate_size", gate_up // 2)
    heads = l["num_heads"]
    if h % heads:
        _fail("llm.num_heads", f"{heads} heads do not divide the width {h}")
    head_dim = h // heads
    rows = s.get("llm.model.layers.0.self_attn.qkv_proj.weight", "the LLM KV heads")[0]
    kv2 = rows // head_dim - heads
    if rows % head_dim or kv2 <= 0 or kv2 % 2 or heads % (kv2 // 2):
        _fail("llm.num_heads", f"{heads} heads (head dim {head_dim}) do not explain the fused qkv_proj's {rows} rows")
    put("llm", "num_kv_heads", kv2 // 2)


def _projector(s, c, put, name, feeding_width, feeding_field):
    indices = sorted(int(i) for i in s.indices(re.escape(name) + r"\.model\.(\d+)\.weight$"))
    if not indices:
        raise ExportError(f"no tensors named '{name}.model.<N>.weight' (needed for the {name} sizes)")
    if indices != list(range(0, 2 * len(indices), 2)):
        _fail(f"{name}.depth", f"linear layers at indices {indices}; expected 0, 2, 4, ... (Linear, GELU, Linear)")
    out, width = s.get(f"{name}.model.0.weight", f"the {name} widths")
    k2 = width // feeding_width
    k = math.isqrt(k2)
    if width % feeding_width or k * k != k2:
        _fail(f"{name}.downsample_ratio", f"input width {width} is not {feeding_field} ({feeding_width}) times a square")
    put(name, "in_features", feeding_width)
    put(name, "out_features", out)
    put(name, "downsample_ratio", 1.0 / k)
    put(name, "depth", len(indices))
    put(name, "bias", f"{name}.model.0.bias" in s)


def _connector(s, c, put):
    levels = s.count("seg_connector.model.", "the connector levels")
    ins, hids, scales = [], set(), []
    for level in range(levels):
        p = f"seg_connector.model.{level}.model."
        hid, cin, _, _ = s.get(p + "0.weight", "the connector widths")
        cout = s.get(p + "4.weight", "the connector scale factors")[0]
        scale = cout / cin
        if scale not in (0.5, 1.0, 2.0):
            _fail("connector.scale_factors", f"level {level}: output width {cout} / input width {cin} is not 0.5, 1 or 2")
        ins.append(cin)
        hids.add(hid)
        scales.append(scale)
    if len(hids) != 1:
        _fail("connector.hidden_channels", f"levels disagree: {sorted(hids)}")
    put("connector", "in_channels", ins)
    put("connector", "hidden_channels", hids.pop())
    put("connector", "scale_factors", scales)
    put("connector", "bias", "seg_connector.model.0.model.0.bias" in s)
    if any(cin != c["sam"]["hidden_size"] for cin in ins):
        _fail("connector.in_channels", f"{ins} should all be the SAM width {c['sam']['hidden_size']}")


def _mask2former(s, c, put, spelling):
    d = c["mask2former"]
    p = "segmentor.pixel_decoder."
    levels = s.count(p + "input_projections.", "the number of feature levels")
    projections = [s.get(f"{p}input_projections.{k}.0.weight", "the feature channels") for k in range(levels)]
    feature_size = projections[0][0]
    put("mask2former", "num_feature_levels", levels)
    put("mask2former", "feature_size", feature_size)
    # input_projections are built over feature_channels[-levels:] reversed (low -> high resolution).
    put("mask2former", "feature_channels", [w[1] for w in reversed(projections)])
    put("mask2former", "mask_feature_size", s.get(p + "mask_projection.weight", "the mask feature width")[0])
    put("mask2former", "encoder_layers", s.count(p + "encoder.layers.", "the pixel-decoder depth"))
    put("mask2former", "encoder_feedforward_dim", s.get(p + "encoder.layers.0.fc1.weight", "the pixel-decoder FFN")[0])
    heads = d["num_heads"]
    weights = s.get(p + "encoder.layers.0.self_attn.attention_weights.weight", "the MSDA points")[0]
    offsets = s.get(p + "encoder.layers.0.self_attn.sampling_offsets.weight", "the MSDA points")[0]
    if weights % (heads * levels) or offsets != 2 * weights:
        _fail("mask2former.num_heads", f"{heads} heads x {levels} levels do not explain the MSDA projections "
                                       f"({weights} attention weights, {offsets} sampling offsets)")
    put("mask2former", "num_points", weights // (heads * levels))
    fpn = len(s.indices(re.escape(p) + r"adapter_(\d+)\."))
    strides = d["feature_strides"][-levels:]
    want = int(math.log2(min(strides))) - int(math.log2(d["common_stride"]))
    if fpn != want:
        _fail("mask2former.common_stride", f"strides {strides} and common stride {d['common_stride']} give {want} "
                                           f"FPN level(s); the checkpoint has {fpn} (adapter_N)")

    q = "segmentor.decoder."
    queries, hidden = s.get(q + "queries_embedder.weight", "the number of queries")
    put("mask2former", "num_queries", queries)
    put("mask2former", "hidden_dim", hidden)
    put("mask2former", "decoder_layers", s.count(q + "decoder.layers.", "the decoder depth") + 1)
    put("mask2former", "dim_feedforward", s.get(q + "decoder.layers.0.fc1.weight", "the decoder FFN")[0])
    if hidden % heads or feature_size % heads:
        _fail("mask2former.num_heads", f"{heads} heads do not divide the widths {feature_size}/{hidden}")
    if feature_size % d["group_norm_groups"]:
        _fail("mask2former.group_norm_groups", f"{d['group_norm_groups']} groups do not divide {feature_size}")
    put("mask2former", "mask_image_size", c["sam"]["image_size"])
