// A result on the page: the masks over the image (each can be hidden; hovering names the mask under
// the pointer), the mask list, the answer text with its <p> phrases coloured like their masks, and
// the timings.
import { colour, css } from './palette.js';
import { decodeRle } from './rle.js';

// Tasks whose masks belong to phrases or regions: a mask is coloured by its label_id, so that phrase k
// of the text, region k of the refs and their masks share a colour. Other tasks colour each mask.
const BY_LABEL = new Set(['referring', 'reasoning', 'gcg', 'interactive', 'vgd', 'chat']);

export class ResultView {
  constructor({ canvas, list, text, timings, tooltip, hoverTarget }) {
    this.canvas = canvas;
    this.list = list;
    this.text = text;
    this.timings = timings;
    this.tooltip = tooltip;
    this.masks = [];
    this.visible = true;
    this.opacity = 0.5;
    hoverTarget.addEventListener('pointermove', (e) => this.hover(e));
    hoverTarget.addEventListener('pointerleave', () => {
      this.tooltip.hidden = true;
    });
  }

  clear() {
    this.masks = [];
    this.result = null;
    this.list.replaceChildren();
    this.timings.replaceChildren();
    this.text.replaceChildren();
    this.tooltip.hidden = true;
    this.draw();
  }

  setImageSize(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  show(result, clientSeconds) {
    this.result = result;
    const byLabel = BY_LABEL.has(result.task);
    this.masks = result.masks.map((m, i) => ({
      ...m,
      index: i,
      bits: decodeRle(m.segmentation),
      rgb: colour(byLabel && m.label_id >= 0 ? m.label_id : i),
      on: true,
    }));
    this.renderList();
    this.renderText(result.text || '', result.task);
    this.renderTimings(result, clientSeconds);
    this.draw();
  }

  setVisible(on) {
    this.visible = on;
    this.draw();
  }

  setOpacity(a) {
    this.opacity = a;
    this.draw();
  }

  draw() {
    const g = this.canvas.getContext('2d');
    const w = this.canvas.width;
    const h = this.canvas.height;
    g.clearRect(0, 0, w, h);
    if (!this.visible || !w || this.masks.length === 0) return;
    const img = g.createImageData(w, h);
    const alpha = Math.round(255 * this.opacity);
    for (const m of this.masks) {
      if (!m.on || m.bits.length !== w * h) continue;
      for (let p = 0; p < m.bits.length; p++) {
        if (!m.bits[p]) continue;
        const k = 4 * p;
        img.data[k] = m.rgb[0];
        img.data[k + 1] = m.rgb[1];
        img.data[k + 2] = m.rgb[2];
        img.data[k + 3] = alpha;
      }
    }
    g.putImageData(img, 0, 0);
    // Outline boxes and labels on top.
    const lw = Math.max(1, Math.round(Math.max(w, h) / 400));
    g.font = `${Math.max(12, Math.round(Math.max(w, h) / 45))}px sans-serif`;
    g.textBaseline = 'top';
    for (const m of this.masks) {
      if (!m.on) continue;
      const [x0, y0, x1, y1] = m.box;
      g.strokeStyle = css(m.rgb);
      g.lineWidth = lw;
      g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      const label = `${m.label} ${m.score.toFixed(2)}`;
      const tw = g.measureText(label).width;
      const th = parseInt(g.font, 10) + 4;
      const ty = Math.max(0, Math.min(y0, h - th));
      g.fillStyle = css(m.rgb, 0.85);
      g.fillRect(x0, ty, tw + 6, th);
      g.fillStyle = '#fff';
      g.fillText(label, x0 + 3, ty + 2);
    }
  }

  renderList() {
    this.list.replaceChildren();
    if (this.masks.length === 0) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = this.result && this.result.note ? `No masks (${this.result.note}).` : 'No masks.';
      this.list.append(li);
      return;
    }
    for (const m of this.masks) {
      const li = document.createElement('li');
      const id = `mask-toggle-${m.index}`;
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.id = id;
      box.checked = true;
      box.addEventListener('change', () => {
        m.on = box.checked;
        this.draw();
      });
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = css(m.rgb);
      const label = document.createElement('label');
      label.htmlFor = id;
      label.append(swatch, ` ${m.label}`);
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `score ${m.score.toFixed(3)} · ${m.area} px`;
      li.append(box, label, score);
      this.list.append(li);
    }
  }

  // Text with <p>phrase</p> marks: phrase k in colour k (the colour of the masks with label_id k).
  renderText(text, task) {
    this.text.replaceChildren();
    let k = 0;
    const re = /<p>([\s\S]*?)(<\/p>|$)/g;
    let at = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > at) this.text.append(document.createTextNode(text.slice(at, m.index)));
      const span = document.createElement('mark');
      span.className = 'phrase';
      const rgb = colour(k);
      span.style.background = css(rgb, 0.3);
      span.style.borderBottom = `3px solid ${css(rgb)}`;
      span.textContent = m[1];
      span.title = `phrase ${k}`;
      this.text.append(span);
      k++;
      at = re.lastIndex;
      if (m[0].length === 0) break;
    }
    if (at < text.length) this.text.append(document.createTextNode(text.slice(at)));
    if (!text && task !== 'chat' && task !== 'gcg') this.text.textContent = '';
  }

  renderTimings(result, clientSeconds) {
    this.timings.replaceChildren();
    const rows = [];
    for (const stage of ['preprocess', 'vision', 'prefill', 'decode', 'decoder', 'postprocess', 'total']) {
      const v = result.timings ? result.timings[stage] : undefined;
      if (v !== undefined && v >= 0) rows.push([stage, v]);
    }
    if (result.server) {
      rows.push(['queue (server)', result.server.queue_seconds]);
      rows.push(['request (server)', result.server.total_seconds]);
    }
    if (clientSeconds !== undefined) rows.push(['round trip (page)', clientSeconds]);
    for (const [name, v] of rows) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = name;
      const td = document.createElement('td');
      td.textContent = `${(v * 1000).toFixed(1)} ms`;
      tr.append(th, td);
      this.timings.append(tr);
    }
    const extra = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = 'image cache';
    const td = document.createElement('td');
    td.textContent = result.image_cache_hit ? 'hit' : 'miss';
    extra.append(th, td);
    this.timings.append(extra);
  }

  hover(e) {
    if (!this.masks.length || !this.visible) return;
    const r = this.canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left) * this.canvas.width) / r.width);
    const y = Math.floor(((e.clientY - r.top) * this.canvas.height) / r.height);
    if (x < 0 || y < 0 || x >= this.canvas.width || y >= this.canvas.height) return;
    const p = y * this.canvas.width + x;
    const hits = this.masks.filter((m) => m.on && m.bits[p]);
    if (hits.length === 0) {
      this.tooltip.hidden = true;
      return;
    }
    this.tooltip.textContent = hits.map((m) => `${m.label} — score ${m.score.toFixed(3)}`).join('\n');
    this.tooltip.hidden = false;
    const stage = this.tooltip.parentElement.getBoundingClientRect();
    this.tooltip.style.left = `${e.clientX - stage.left + 14}px`;
    this.tooltip.style.top = `${e.clientY - stage.top + 14}px`;
  }
}
