// The demo page: wires the form, the image stage, the ref editor and the result view to the API.
// State for tests and tools: document.body.dataset.state is loading | idle | running | done | error.
import { ApiError, fetchInfo, segment } from './api.js';
import { RefEditor } from './refs.js';
import { ResultView } from './result_view.js';

const $ = (id) => document.getElementById(id);

const TASK_HELP = {
  chat: ['Question', 'Ask anything about the image.', 'What is in this picture?'],
  semantic: ['Classes', 'Class names, comma-separated (or "ins: a, b; sem: c").', 'sky, grass, tree'],
  instance: ['Classes', 'Class names, comma-separated (or "ins: a, b; sem: c").', 'person, dog'],
  panoptic: ['Classes', '"ins:" lists things, "sem:" stuff.', 'ins: person, dog; sem: sky, grass'],
  referring: ['Expression', 'Describe one object.', 'the dog on the left'],
  reasoning: ['Question', 'A question whose answer is a region.', 'What could I sit on here?'],
  gcg: ['Prompt (optional)', 'Describes the image and grounds each phrase.', ''],
  interactive: ['Prompt (not needed)', 'Draw one ref (point, box, scribble or mask) on the image.', ''],
  vgd: ['Prompt (not needed)', 'Draw one or more refs; each finds the objects like it.', ''],
  open_vocab: ['Classes', 'Any class names, comma-separated.', 'zebra, giraffe, acacia'],
  auto: ['Prompt', 'The task is inferred from the prompt, the classes and the refs.', ''],
};
const GENERIC = new Set(['semantic', 'instance', 'panoptic', 'open_vocab']);

const state = {
  file: null, // the Blob sent to the server
  image: null, // the decoded image (ImageBitmap)
  result: null,
  abort: null,
};

const imageCanvas = $('image-canvas');
const refs = new RefEditor($('ref-canvas'), renderRefList);
const view = new ResultView({
  canvas: $('mask-canvas'),
  list: $('masks'),
  text: $('text'),
  timings: $('timings'),
  tooltip: $('tooltip'),
  hoverTarget: $('ref-canvas'),
});

function setState(s, message) {
  document.body.dataset.state = s;
  $('status').textContent = message || '';
  $('run').disabled = s === 'running';
  $('cancel').disabled = s !== 'running';
}

function showError(message, field) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  document.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
  const target = field && fieldElement(field);
  if (target) {
    target.classList.add('invalid');
    target.setAttribute('aria-invalid', 'true');
  }
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
  document.querySelectorAll('.invalid').forEach((el) => {
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
  });
}

// The page element that holds a request field, for highlighting.
function fieldElement(field) {
  const base = field.replace(/\[.*$/, '').replace(/\..*$/, '');
  const map = {
    image: 'file', task: 'task', prompt: 'prompt', classes: 'prompt', question: 'prompt', refs: 'ref-canvas',
    score_threshold: 'threshold', mask_threshold: 'mask-threshold', max_new_tokens: 'max-new-tokens',
    seed: 'seed', temperature: 'temperature', mode: 'mode',
  };
  return map[base] ? $(map[base]) : null;
}

// ---- image input: file picker, drop, paste
async function loadImage(file) {
  if (!file) return;
  clearError();
  if (file.type && !file.type.startsWith('image/')) {
    showError(`"${file.name}" is not an image (${file.type}).`, 'image');
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (e) {
    showError(`The browser cannot decode "${file.name || 'the image'}": ${e.message}`, 'image');
    return;
  }
  state.file = file;
  state.image = bitmap;
  imageCanvas.width = bitmap.width;
  imageCanvas.height = bitmap.height;
  imageCanvas.getContext('2d').drawImage(bitmap, 0, 0);
  refs.setImage(bitmap.width, bitmap.height);
  view.setImageSize(bitmap.width, bitmap.height);
  setDownloads(null);
  $('stage').classList.remove('empty');
  fitStage();
  setState('idle', `Image ${file.name || ''} (${bitmap.width}×${bitmap.height}).`);
}

// Shows the image as large as the view allows (small images are scaled up, up to 3x), keeping its
// aspect ratio; the canvases keep the image's own pixels.
function fitStage() {
  const stage = $('stage');
  if (!state.image) return;
  const { width, height } = state.image;
  const availWidth = stage.parentElement.clientWidth - 2;
  const availHeight = Math.max(320, window.innerHeight * 0.72);
  const scale = Math.min(availWidth / width, availHeight / height, 3);
  stage.style.width = `${Math.floor(width * scale)}px`;
  stage.style.height = `${Math.floor(height * scale)}px`;
}
window.addEventListener('resize', fitStage);

$('file').addEventListener('change', (e) => loadImage(e.target.files[0]));
const drop = $('drop');
for (const target of [drop, $('stage')]) {
  target.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  target.addEventListener('dragleave', () => drop.classList.remove('over'));
  target.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files.length) loadImage(e.dataTransfer.files[0]);
  });
}
document.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith('image/'));
  if (item) loadImage(item.getAsFile());
});

// ---- task and prompt
function taskChanged() {
  const task = $('task').value;
  const [label, help, placeholder] = TASK_HELP[task];
  $('prompt-label').textContent = label;
  $('task-help').textContent = help;
  $('prompt').placeholder = placeholder;
  refs.single = task === 'interactive';
  if (refs.single && refs.refs.length > 1) refs.refs.splice(0, refs.refs.length - 1);
  refs.changed();
}
$('task').addEventListener('change', taskChanged);

// ---- refs
function renderRefList(list) {
  const ol = $('refs');
  ol.replaceChildren();
  list.forEach((r, i) => {
    const li = document.createElement('li');
    li.textContent = `region ${i}: ${refs.describe(r)} `;
    const rm = document.createElement('button');
    rm.type = 'button';
    rm.textContent = 'Remove';
    rm.setAttribute('aria-label', `Remove region ${i}`);
    rm.addEventListener('click', () => refs.remove(i));
    li.append(rm);
    ol.append(li);
  });
}
document.querySelectorAll('input[name="tool"]').forEach((r) =>
  r.addEventListener('change', () => {
    refs.tool = r.value;
  }));
$('brush').addEventListener('input', (e) => {
  refs.brush = Number(e.target.value);
  $('brush-value').textContent = e.target.value;
});
$('undo-ref').addEventListener('click', () => refs.removeLast());
$('clear-refs').addEventListener('click', () => refs.clear());
function addRefFromText() {
  clearError();
  if (!state.image) return showError('Load an image first.', 'image');
  try {
    refs.addFromText($('ref-text').value);
    $('ref-text').value = '';
  } catch (e) {
    showError(`Ref: ${e.message}`, 'refs');
  }
  return undefined;
}
$('add-ref').addEventListener('click', addRefFromText);
$('ref-text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    addRefFromText();
  }
});

// ---- view toggles
$('threshold').addEventListener('input', (e) => {
  $('threshold-value').textContent = Number(e.target.value).toFixed(2);
});
$('show-masks').addEventListener('change', (e) => view.setVisible(e.target.checked));
$('show-refs').addEventListener('change', (e) => {
  refs.visible = e.target.checked;
  refs.draw();
});
$('opacity').addEventListener('input', (e) => view.setOpacity(Number(e.target.value)));

function setDownloads(result) {
  const json = $('download-json');
  const png = $('download-png');
  if (json.href && json.href.startsWith('blob:')) URL.revokeObjectURL(json.href);
  if (!result) {
    for (const a of [json, png]) {
      a.removeAttribute('href');
      a.setAttribute('aria-disabled', 'true');
    }
    return;
  }
  json.href = URL.createObjectURL(new Blob([JSON.stringify(result, null, 2)], { type: 'application/json' }));
  json.setAttribute('aria-disabled', 'false');
  if (result.overlay_png) {
    png.href = `data:image/png;base64,${result.overlay_png}`;
    png.setAttribute('aria-disabled', 'false');
  }
}

// ---- run
function buildRequest() {
  const task = $('task').value;
  const req = { task, score_threshold: Number($('threshold').value) };
  const prompt = $('prompt').value.trim();
  if (prompt) {
    if (GENERIC.has(task) && !/\b(ins|sem)\s*:/.test(prompt)) req.classes = prompt;
    else req.prompt = prompt;
  }
  if (refs.refs.length) req.refs = refs.toJSON();
  const mode = $('mode').value;
  if (mode !== 'default') req.mode = mode;
  const num = (id) => Number($(id).value);
  req.mask_threshold = num('mask-threshold');
  if (num('max-new-tokens') > 0) req.max_new_tokens = Math.round(num('max-new-tokens'));
  if (num('seed') > 0) req.seed = Math.round(num('seed'));
  if (num('temperature') > 0) req.temperature = num('temperature');
  return req;
}

async function run() {
  clearError();
  if (!state.file) {
    showError('Choose an image first.', 'image');
    $('file').focus();
    return;
  }
  if (state.abort) return;
  const stream = $('stream').checked;
  const request = buildRequest();
  view.clear();
  setDownloads(null);
  let streamed = '';
  const started = performance.now();
  state.abort = new AbortController();
  setState('running', 'Running…');
  try {
    const result = await segment(state.file, request, {
      stream,
      signal: state.abort.signal,
      onToken: (piece) => {
        streamed += piece;
        view.renderText(streamed, request.task);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    state.result = result;
    window.xsamResult = result;
    view.show(result, seconds);
    setDownloads(result);
    const n = result.masks.length;
    setState('done', `Done in ${seconds.toFixed(2)} s: ${n} mask${n === 1 ? '' : 's'}.`);
  } catch (e) {
    if (e.name === 'AbortError') {
      setState('idle', 'Cancelled.');
    } else if (e instanceof ApiError) {
      showError(`${e.message}${e.status ? ` (HTTP ${e.status}${e.code ? `, ${e.code}` : ''})` : ''}`, e.field);
      setState('error', 'The server refused the request.');
    } else {
      showError(`Cannot reach the server: ${e.message}`);
      setState('error', 'Network error.');
    }
  } finally {
    state.abort = null;
    $('run').disabled = false;
    $('cancel').disabled = true;
  }
}

$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  run();
});
$('cancel').addEventListener('click', () => state.abort && state.abort.abort());

// ---- keyboard
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    run();
    return;
  }
  const typing = e.target.closest('input[type="text"], input:not([type]), input[type="number"], textarea, select');
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  const tools = { p: 'point', b: 'box', s: 'scribble', m: 'mask' };
  const key = e.key.toLowerCase();
  if (tools[key]) {
    const radio = $(`tool-${tools[key]}`);
    radio.checked = true;
    refs.tool = tools[key];
  } else if (e.key === 'Delete' || (e.key === 'Backspace' && e.target === $('ref-canvas'))) {
    e.preventDefault();
    refs.removeLast();
  } else if (e.key === 'Escape' && state.abort) {
    state.abort.abort();
  }
});

// ---- start
taskChanged();
setState('loading', 'Loading model information…');
fetchInfo()
  .then((info) => {
    const params = info.parameters ? `${(info.parameters / 1e6).toFixed(1)} M parameters` : '';
    const server = info.server || {};
    $('model-info').textContent = [
      info.model_dir && info.model_dir.split('/').filter(Boolean).pop(),
      info.preset && `preset ${info.preset}`,
      params,
      info.dtype && `${info.dtype} on ${info.device || 'cpu'}`,
      server.workers && `${server.workers} worker${server.workers === 1 ? '' : 's'}`,
    ].filter(Boolean).join(' · ');
    setState('idle', 'Choose an image to start.');
  })
  .catch((e) => {
    $('model-info').textContent = 'Model information unavailable.';
    showError(`Cannot reach the server: ${e.message}`);
    setState('error');
  });
