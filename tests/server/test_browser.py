#!/usr/bin/python3
"""End-to-end test of the demo page in headless Chromium (Debian's chromium + chromium-driver), driven
through the W3C WebDriver protocol with the standard library only: load the page served by
`xsam serve` (tiny random model), upload the sample image, draw a box, run interactive segmentation,
check that the overlay and one mask appear, and save a screenshot under the work directory. Then the
keyboard path (Ctrl+Enter) with streamed chat text, and an error shown in the page.

  /usr/bin/python3 tests/server/test_browser.py --xsam build/bin/xsam --work build/server-tests
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

OPTS = harness.parse_args(sys.argv)
WORK = os.path.join(OPTS['work'], 'browser')
ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'  # the W3C key of an element reference


def find_binary(*names):
    for n in names:
        path = shutil.which(n) or (n if os.path.isabs(n) and os.path.exists(n) else None)
        if path:
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over HTTP to chromedriver on 127.0.0.1."""

    def __init__(self, chromedriver, chromium, log_path):
        self.port = free_port()
        self.log = open(log_path, 'w')
        self.proc = subprocess.Popen([chromedriver, f'--port={self.port}', '--allowed-ips=127.0.0.1'],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f'http://127.0.0.1:{self.port}'
        self.profile = tempfile.mkdtemp(prefix='xsam-chromium-')
        deadline = time.time() + 30
        while True:
            try:
                if self.call('GET', '/status')['ready']:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.time() > deadline:
                raise RuntimeError('chromedriver did not start')
            time.sleep(0.2)
        caps = {'capabilities': {'alwaysMatch': {
            'browserName': 'chrome',
            'goog:chromeOptions': {
                'binary': chromium,
                'args': ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                         '--window-size=1400,1100', '--no-first-run', '--disable-extensions',
                         '--disable-background-networking', f'--user-data-dir={self.profile}'],
            }}}}
        self.session = self.call('POST', '/session', caps)['sessionId']

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else (b'{}' if method == 'POST' else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())['value']
        except urllib.error.HTTPError as e:
            raise RuntimeError(f'WebDriver {method} {path}: {e.code} {e.read()[:500]!r}') from None

    def s(self, method, path, body=None):
        return self.call(method, f'/session/{self.session}{path}', body)

    def get(self, url):
        self.s('POST', '/url', {'url': url})

    def find(self, css):
        return self.s('POST', '/element', {'using': 'css selector', 'value': css})[ELEMENT]

    def click(self, css):
        self.s('POST', f'/element/{self.find(css)}/click')

    def type(self, css, text):
        self.s('POST', f'/element/{self.find(css)}/value', {'text': text})

    def js(self, script, *args):
        return self.s('POST', '/execute/sync', {'script': script, 'args': list(args)})

    def drag(self, css, start, end):
        """Presses the mouse at `start` and releases it at `end`, offsets from the element's centre."""
        el = {ELEMENT: self.find(css)}
        moves = [{'type': 'pointerMove', 'duration': 0, 'origin': el, 'x': start[0], 'y': start[1]},
                 {'type': 'pointerDown', 'button': 0}]
        for k in range(1, 6):
            x = start[0] + (end[0] - start[0]) * k // 5
            y = start[1] + (end[1] - start[1]) * k // 5
            moves.append({'type': 'pointerMove', 'duration': 40, 'origin': el, 'x': x, 'y': y})
        moves.append({'type': 'pointerUp', 'button': 0})
        self.s('POST', '/actions', {'actions': [
            {'type': 'pointer', 'id': 'mouse', 'parameters': {'pointerType': 'mouse'}, 'actions': moves}]})
        self.s('DELETE', '/actions')

    def move(self, css, at):
        """Moves the mouse to `at`, an offset from the element's centre."""
        el = {ELEMENT: self.find(css)}
        self.s('POST', '/actions', {'actions': [
            {'type': 'pointer', 'id': 'mouse', 'parameters': {'pointerType': 'mouse'},
             'actions': [{'type': 'pointerMove', 'duration': 50, 'origin': el, 'x': at[0], 'y': at[1]}]}]})

    def keys(self, *chords):
        """Key chords, e.g. ('\\ue009', '\\ue007') = Ctrl+Enter, sent to the focused element."""
        down = [{'type': 'keyDown', 'value': k} for k in chords]
        up = [{'type': 'keyUp', 'value': k} for k in reversed(chords)]
        self.s('POST', '/actions', {'actions': [{'type': 'key', 'id': 'keyboard', 'actions': down + up}]})

    def screenshot(self, path):
        with open(path, 'wb') as f:
            f.write(base64.b64decode(self.s('GET', '/screenshot')))

    def wait(self, script, timeout=180, what='condition'):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(script)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f'timed out waiting for {what}')

    def quit(self):
        try:
            self.s('DELETE', '')
        except Exception:  # noqa: BLE001 - best effort; the process is stopped below
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# Pixels of the mask layer that are painted (alpha > 0).
PAINTED = """
const c = document.getElementById('mask-canvas');
if (!c.width) return 0;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
return n;
"""


# A pixel painted by the mask fill alone (alpha = the default opacity 0.5, not a box or label stroke),
# as an offset in CSS pixels from the canvas centre.
FILL_PIXEL = """
const c = document.getElementById('mask-canvas');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const r = c.getBoundingClientRect();
const cx = c.width / 2, cy = c.height / 2;
let best = null, bestDist = Infinity;
for (let y = 2; y < c.height - 2; y += 2) for (let x = 2; x < c.width - 2; x += 2) {
  if (d[4 * (y * c.width + x) + 3] !== 128) continue;
  const dist = (x - cx) ** 2 + (y - cy) ** 2;
  if (dist < bestDist) { bestDist = dist; best = [x, y]; }
}
if (!best) return null;
return [Math.round((best[0] + 0.5 - cx) * r.width / c.width), Math.round((best[1] + 0.5 - cy) * r.height / c.height)];
"""


class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        chromedriver = find_binary('chromedriver', '/usr/bin/chromedriver')
        chromium = find_binary('chromium', '/usr/bin/chromium')
        if not chromedriver or not chromium:
            raise RuntimeError('needs Debian chromium and chromium-driver (tools/setup.sh installs them)')
        os.makedirs(WORK, exist_ok=True)
        model = harness.make_tiny_model(OPTS['xsam'], os.path.join(WORK, 'tiny-model'))
        cls.server = harness.Server(OPTS['xsam'], model, os.path.join(WORK, 'server.log'), '--max-new-tokens', '24')
        try:
            cls.driver = WebDriver(chromedriver, chromium, os.path.join(WORK, 'chromedriver.log'))
        except Exception:
            cls.server.stop()
            raise
        cls.url = f'http://127.0.0.1:{cls.server.port}/'

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        assert cls.server.stop() == 0

    def load_page_with_image(self):
        d = self.driver
        d.get(self.url)
        d.wait("return document.body.dataset.state === 'idle'", 60, 'the page to load')
        self.assertIn('preset', d.js("return document.getElementById('model-info').textContent"))
        d.type('#file', os.path.abspath(harness.sample_image()))
        d.wait("return document.getElementById('ref-canvas').width > 0", 30, 'the image to load')

    def test_interactive_box(self):
        d = self.driver
        self.load_page_with_image()
        d.click('#tool-box')
        d.js("document.getElementById('task').value = 'interactive';"
             "document.getElementById('task').dispatchEvent(new Event('change'));")
        rect = d.js("const r = document.getElementById('ref-canvas').getBoundingClientRect();"
                    "return [r.width, r.height];")
        w, h = int(rect[0]), int(rect[1])
        d.drag('#ref-canvas', (-w // 4, -h // 4), (w // 5, h // 5))
        refs = d.js("return [...document.querySelectorAll('#refs li')].map(li => li.textContent)")
        self.assertEqual(len(refs), 1, refs)
        self.assertIn('box', refs[0])
        self.assertEqual(d.js(PAINTED), 0)
        d.click('#run')
        state = d.wait("const s = document.body.dataset.state; return s === 'done' || s === 'error' ? s : null",
                       180, 'the result')
        error = d.js("return document.getElementById('error').textContent")
        self.assertEqual(state, 'done', error)
        masks = d.js("return [...document.querySelectorAll('#masks li:not(.empty)')].map(li => li.textContent)")
        self.assertEqual(len(masks), 1, masks)
        self.assertIn('region 0', masks[0])
        painted = d.js(PAINTED)
        self.assertGreater(painted, 0, 'the overlay shows no mask')
        self.assertGreaterEqual(painted, d.js('return window.xsamResult.masks[0].area'),
                                'the overlay paints the whole mask (plus its box and label)')
        self.assertEqual(d.js("return document.getElementById('download-png').getAttribute('aria-disabled')"), 'false')
        shot = os.path.join(WORK, 'interactive.png')
        d.screenshot(shot)
        with open(shot, 'rb') as f:
            self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
        harness.log(f'screenshot: {shot}')
        # Hovering a mask pixel names the mask and its score.
        spot = d.js(FILL_PIXEL)
        self.assertIsNotNone(spot, 'no pixel of the mask fill found')
        d.move('#ref-canvas', spot)
        tip = d.wait("const t = document.getElementById('tooltip'); return t.hidden ? null : t.textContent", 10,
                     'the hover tooltip')
        self.assertIn('region 0', tip)
        self.assertIn('score 0.', tip)
        # Toggling the mask off hides it.
        d.click('#mask-toggle-0')
        self.assertEqual(d.js(PAINTED), 0)

    def test_keyboard_chat_stream_and_error(self):
        d = self.driver
        self.load_page_with_image()
        d.js("document.getElementById('task').value = 'chat';"
             "document.getElementById('task').dispatchEvent(new Event('change'));")
        d.type('#prompt', 'What is in the image?')
        d.keys('\ue009', '\ue007')  # Ctrl+Enter in the prompt box runs
        state = d.wait("const s = document.body.dataset.state; return s === 'done' || s === 'error' ? s : null",
                       180, 'the chat answer')
        self.assertEqual(state, 'done', d.js("return document.getElementById('error').textContent"))
        self.assertGreater(len(d.js("return document.getElementById('text').textContent")), 0)
        self.assertGreater(d.js('return window.xsamResult.generated_ids.length'), 0)
        # Interactive without a ref: the server's error is shown in the page, naming the field.
        d.js("document.getElementById('task').value = 'interactive';"
             "document.getElementById('task').dispatchEvent(new Event('change'));")
        d.click('#clear-refs')
        d.click('#run')
        d.wait("return document.body.dataset.state === 'error'", 120, 'the error')
        error = d.js("return document.getElementById('error').textContent")
        self.assertIn('refs', error)
        self.assertIn('HTTP 400', error)
        self.assertFalse(d.js("return document.getElementById('error').hidden"))
        d.screenshot(os.path.join(WORK, 'error.png'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
