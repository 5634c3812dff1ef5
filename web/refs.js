// Visual refs drawn on the image: points, boxes, scribbles and painted masks, in image pixels (the
// API's coordinates, docs/visual-refs.md). Pointer: click (point), drag (box, scribble, mask brush);
// Shift adds to the last ref of the same kind. Keyboard, with the image focused: arrows move a cursor
// (Shift: 10x), Enter or Space acts at the cursor (point; box corner 1 then 2; scribble vertex; brush
// stamp), Escape ends the current stroke.
import { colour, css } from './palette.js';

const MIN_BOX = 2; // pixels: a smaller drag is a slip, not a box

export class RefEditor {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onChange = onChange;
    this.refs = [];
    this.tool = 'box';
    this.brush = 12;
    this.single = false; // interactive segmentation takes exactly one ref: a new one replaces it
    this.visible = true;
    this.drag = null;
    this.cursor = null; // keyboard cursor {x, y}
    this.anchor = null; // keyboard box corner
    this.width = 0;
    this.height = 0;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', () => this.cancelDrag());
    canvas.addEventListener('keydown', (e) => this.key(e));
    canvas.addEventListener('focus', () => {
      if (!this.cursor && this.width) this.cursor = { x: Math.floor(this.width / 2), y: Math.floor(this.height / 2) };
      this.draw();
    });
    canvas.addEventListener('blur', () => this.draw());
  }

  setImage(width, height) {
    this.width = width;
    this.height = height;
    this.canvas.width = width;
    this.canvas.height = height;
    this.refs = [];
    this.cursor = null;
    this.anchor = null;
    this.changed();
  }

  clear() {
    this.refs = [];
    this.anchor = null;
    this.changed();
  }

  removeLast() {
    this.refs.pop();
    this.changed();
  }

  remove(i) {
    this.refs.splice(i, 1);
    this.changed();
  }

  changed() {
    this.draw();
    this.onChange(this.refs);
  }

  // A new ref (replacing the old one in single mode).
  push(ref) {
    if (this.single) this.refs = [];
    this.refs.push(ref);
  }

  // "point 10 20", "box 10 20 200 180", "scribble 10 20 30 40 ..." in image pixels.
  addFromText(text) {
    const parts = text.trim().split(/[\s,;]+/);
    const kind = (parts.shift() || '').toLowerCase();
    const xy = parts.map(Number);
    if (!['point', 'box', 'scribble'].includes(kind)) throw new Error('start with point, box or scribble');
    if (xy.length === 0 || xy.some((v) => !Number.isFinite(v))) throw new Error('coordinates must be numbers');
    if (kind === 'box' ? xy.length !== 4 : xy.length % 2 !== 0) {
      throw new Error(kind === 'box' ? 'a box takes x0 y0 x1 y1' : 'give x y pairs');
    }
    this.push({ kind, xy });
    this.changed();
  }

  imagePoint(e) {
    const r = this.canvas.getBoundingClientRect();
    const x = ((e.clientX - r.left) * this.width) / r.width;
    const y = ((e.clientY - r.top) * this.height) / r.height;
    return { x: Math.min(Math.max(x, 0), this.width), y: Math.min(Math.max(y, 0), this.height) };
  }

  // Points and scribble vertices must lie on a pixel: [0, W) × [0, H).
  inside(p) {
    return { x: Math.min(Math.floor(p.x), this.width - 1), y: Math.min(Math.floor(p.y), this.height - 1) };
  }

  down(e) {
    if (!this.width || e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.imagePoint(e);
    const last = this.refs[this.refs.length - 1];
    if (this.tool === 'point') {
      const q = this.inside(p);
      if (e.shiftKey && last && last.kind === 'point') last.xy.push(q.x, q.y);
      else this.push({ kind: 'point', xy: [q.x, q.y] });
      this.changed();
    } else if (this.tool === 'box') {
      this.drag = { kind: 'box', start: p, end: p };
    } else if (this.tool === 'scribble') {
      const q = this.inside(p);
      this.drag = { kind: 'scribble', xy: [q.x, q.y] };
    } else if (this.tool === 'mask') {
      const ref = e.shiftKey && last && last.kind === 'mask' ? last : this.newMask();
      this.drag = { kind: 'mask', ref, last: p };
      this.paint(ref, p, p);
    }
    this.draw();
  }

  move(e) {
    if (!this.drag) return;
    const p = this.imagePoint(e);
    if (this.drag.kind === 'box') this.drag.end = p;
    else if (this.drag.kind === 'scribble') {
      const q = this.inside(p);
      const n = this.drag.xy.length;
      if (Math.hypot(q.x - this.drag.xy[n - 2], q.y - this.drag.xy[n - 1]) >= 2) this.drag.xy.push(q.x, q.y);
    } else if (this.drag.kind === 'mask') {
      this.paint(this.drag.ref, this.drag.last, p);
      this.drag.last = p;
    }
    this.draw();
  }

  up() {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    if (d.kind === 'box') {
      const x0 = Math.round(Math.min(d.start.x, d.end.x));
      const y0 = Math.round(Math.min(d.start.y, d.end.y));
      const x1 = Math.round(Math.max(d.start.x, d.end.x));
      const y1 = Math.round(Math.max(d.start.y, d.end.y));
      if (x1 - x0 >= MIN_BOX && y1 - y0 >= MIN_BOX) this.push({ kind: 'box', xy: [x0, y0, x1, y1] });
    } else if (d.kind === 'scribble') {
      this.push({ kind: 'scribble', xy: d.xy });
    }
    this.changed();
  }

  cancelDrag() {
    this.drag = null;
    this.draw();
  }

  newMask() {
    const c = document.createElement('canvas');
    c.width = this.width;
    c.height = this.height;
    const g = c.getContext('2d');
    g.fillStyle = '#000';
    g.fillRect(0, 0, c.width, c.height);
    const ref = { kind: 'mask', canvas: c };
    this.push(ref);
    return ref;
  }

  paint(ref, a, b) {
    ref.tint = null; // re-tinted on the next draw
    const g = ref.canvas.getContext('2d');
    g.strokeStyle = '#fff';
    g.fillStyle = '#fff';
    g.lineWidth = 2 * this.brush;
    g.lineCap = 'round';
    g.beginPath();
    g.moveTo(a.x, a.y);
    g.lineTo(b.x, b.y);
    g.stroke();
    g.beginPath();
    g.arc(b.x, b.y, this.brush, 0, 2 * Math.PI);
    g.fill();
  }

  key(e) {
    if (!this.width) return;
    const step = Math.max(1, Math.round((e.shiftKey ? 0.1 : 0.01) * Math.max(this.width, this.height)));
    const c = this.cursor || { x: Math.floor(this.width / 2), y: Math.floor(this.height / 2) };
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      c.x = Math.min(Math.max(c.x + moves[e.key][0], 0), this.width - 1);
      c.y = Math.min(Math.max(c.y + moves[e.key][1], 0), this.height - 1);
      this.cursor = c;
      if (this.keyStroke && this.keyStroke.kind === 'mask') this.paint(this.keyStroke.ref, c, c);
      this.draw();
      e.preventDefault();
      return;
    }
    if (e.key === 'Enter' || e.key === ' ') {
      this.cursor = c;
      this.act(c);
      e.preventDefault();
    } else if (e.key === 'Escape' && (this.anchor || this.keyStroke)) {
      this.anchor = null;
      this.keyStroke = null;
      this.draw();
      e.preventDefault();
      e.stopPropagation();
    }
  }

  // Enter at the keyboard cursor.
  act(c) {
    const last = this.refs[this.refs.length - 1];
    if (this.tool === 'point') {
      this.push({ kind: 'point', xy: [c.x, c.y] });
    } else if (this.tool === 'box') {
      if (!this.anchor) {
        this.anchor = { x: c.x, y: c.y };
        this.draw();
        return;
      }
      const xy = [Math.min(this.anchor.x, c.x), Math.min(this.anchor.y, c.y), Math.max(this.anchor.x, c.x) + 1,
        Math.max(this.anchor.y, c.y) + 1];
      this.anchor = null;
      this.push({ kind: 'box', xy });
    } else if (this.tool === 'scribble') {
      if (this.keyStroke && this.keyStroke.kind === 'scribble' && last === this.keyStroke.ref) {
        last.xy.push(c.x, c.y);
      } else {
        const ref = { kind: 'scribble', xy: [c.x, c.y] };
        this.push(ref);
        this.keyStroke = { kind: 'scribble', ref };
      }
    } else if (this.tool === 'mask') {
      if (!(this.keyStroke && this.keyStroke.kind === 'mask' && last === this.keyStroke.ref)) {
        this.keyStroke = { kind: 'mask', ref: this.newMask() };
      }
      this.paint(this.keyStroke.ref, c, c);
    }
    this.changed();
  }

  draw() {
    const g = this.ctx;
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.width) return;
    const lw = Math.max(2, Math.round(Math.max(this.width, this.height) / 300));
    if (this.visible) this.refs.forEach((r, i) => this.drawRef(r, i, lw));
    const d = this.drag;
    if (d && d.kind === 'box') {
      this.drawRef({ kind: 'box', xy: [d.start.x, d.start.y, d.end.x, d.end.y] }, this.refs.length, lw);
    } else if (d && d.kind === 'scribble') {
      this.drawRef({ kind: 'scribble', xy: d.xy }, this.refs.length, lw);
    }
    if (document.activeElement === this.canvas && this.cursor) {
      const { x, y } = this.cursor;
      g.strokeStyle = '#fff';
      g.lineWidth = lw;
      g.setLineDash([lw * 2, lw * 2]);
      g.beginPath();
      g.moveTo(x + 0.5, 0);
      g.lineTo(x + 0.5, this.height);
      g.moveTo(0, y + 0.5);
      g.lineTo(this.width, y + 0.5);
      g.stroke();
      g.setLineDash([]);
      if (this.anchor) {
        g.strokeStyle = '#ff0';
        g.strokeRect(Math.min(this.anchor.x, x), Math.min(this.anchor.y, y), Math.abs(x - this.anchor.x) + 1,
          Math.abs(y - this.anchor.y) + 1);
      }
    }
  }

  drawRef(r, i, lw) {
    const g = this.ctx;
    const rgb = colour(i);
    g.strokeStyle = css(rgb);
    g.fillStyle = css(rgb, 0.35);
    g.lineWidth = lw;
    g.lineJoin = 'round';
    g.lineCap = 'round';
    if (r.kind === 'point') {
      for (let k = 0; k < r.xy.length; k += 2) {
        g.beginPath();
        g.arc(r.xy[k] + 0.5, r.xy[k + 1] + 0.5, Math.max(4, lw * 3), 0, 2 * Math.PI);
        g.fill();
        g.stroke();
      }
    } else if (r.kind === 'box') {
      const [x0, y0, x1, y1] = r.xy;
      g.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      g.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    } else if (r.kind === 'scribble') {
      g.lineWidth = Math.max(lw, 4);
      g.beginPath();
      g.moveTo(r.xy[0] + 0.5, r.xy[1] + 0.5);
      for (let k = 2; k < r.xy.length; k += 2) g.lineTo(r.xy[k] + 0.5, r.xy[k + 1] + 0.5);
      if (r.xy.length === 2) g.lineTo(r.xy[0] + 0.6, r.xy[1] + 0.5);
      g.stroke();
    } else if (r.kind === 'mask') {
      if (!r.tint || r.tintIndex !== i) {
        r.tint = this.tinted(r.canvas, rgb);
        r.tintIndex = i;
      }
      g.drawImage(r.tint, 0, 0);
    }
  }

  // The painted canvas is white on black: its white as the ref's colour, the rest transparent.
  tinted(source, rgb) {
    const tint = document.createElement('canvas');
    tint.width = this.width;
    tint.height = this.height;
    const t = tint.getContext('2d');
    t.drawImage(source, 0, 0);
    const img = t.getImageData(0, 0, this.width, this.height);
    for (let k = 0; k < img.data.length; k += 4) {
      const on = img.data[k] > 128;
      img.data[k] = rgb[0];
      img.data[k + 1] = rgb[1];
      img.data[k + 2] = rgb[2];
      img.data[k + 3] = on ? 110 : 0;
    }
    t.putImageData(img, 0, 0);
    return tint;
  }

  describe(r) {
    if (r.kind === 'mask') return 'mask (painted)';
    if (r.kind === 'box') return `box ${r.xy.map((v) => Math.round(v)).join(', ')}`;
    const n = r.xy.length / 2;
    return `${r.kind} ${r.xy.slice(0, 4).map((v) => Math.round(v)).join(', ')}${n > 2 ? ` … (${n} vertices)` : ''}`;
  }

  // The refs as the API takes them.
  toJSON() {
    return this.refs.map((r) =>
      r.kind === 'mask' ? { kind: 'mask', png: r.canvas.toDataURL('image/png') } : { kind: r.kind, xy: r.xy });
  }
}
