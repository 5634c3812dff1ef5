// Talking to `xsam serve`: GET /v1/info, and POST /v1/segment as multipart (the image file as it is,
// the rest as one JSON "request" part), optionally streamed as Server-Sent Events.

export async function fetchInfo() {
  const res = await fetch('v1/info');
  if (!res.ok) throw new Error(`GET /v1/info: HTTP ${res.status}`);
  return res.json();
}

// An error from the API: {error: {status, code, field, message}}.
export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.field = error && error.field;
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    /* not JSON */
  }
  return new ApiError(res.status, body && body.error);
}

// Runs one request. `onToken(text)` receives streamed pieces when `stream` is true. Resolves to the
// result object; rejects with ApiError (or a network error, or AbortError through `signal`).
export async function segment(imageBlob, request, { stream, onToken, signal }) {
  const form = new FormData();
  form.append('image', imageBlob, imageBlob.name || 'image');
  form.append('request', JSON.stringify(request));
  const res = await fetch(stream ? 'v1/segment?stream=1' : 'v1/segment', { method: 'POST', body: form, signal });
  if (!res.ok) throw await errorOf(res);
  if (!stream) return res.json();

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
      if (event === 'token') onToken(JSON.parse(data).text);
      else if (event === 'result') return JSON.parse(data);
      else if (event === 'error') {
        const { error } = JSON.parse(data);
        throw new ApiError(error && error.status ? error.status : 200, error);
      }
    }
  }
  throw new Error('the stream ended without a result');
}
