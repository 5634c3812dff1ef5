// COCO run-length encoding, as the API returns masks: {"size": [h, w], "counts": "<compressed string>"}.
// The counts are alternating runs of 0s and 1s (starting with 0s) over the pixels in column-major
// order; the string stores each run in 5-bit groups offset by 48, and from the third run on as the
// difference to the run two before (pycocotools' rleFrString).

export function decodeCounts(s) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

// A mask as a row-major Uint8Array of width × height (1 = inside).
export function decodeRle(rle) {
  const [h, w] = rle.size;
  const counts = typeof rle.counts === 'string' ? decodeCounts(rle.counts) : rle.counts;
  const out = new Uint8Array(w * h);
  let i = 0;
  let value = 0;
  for (const run of counts) {
    if (value) {
      for (let j = i; j < i + run; j++) {
        const x = Math.floor(j / h);
        const y = j - x * h;
        out[y * w + x] = 1;
      }
    }
    i += run;
    value ^= 1;
  }
  return out;
}
