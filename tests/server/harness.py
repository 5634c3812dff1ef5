"""Starts and stops `xsam serve` for the server tests, and talks to it over HTTP on 127.0.0.1 only.

Standard library only: the tests run with Debian's /usr/bin/python3 and nothing else.
"""
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GOLDEN_IMAGES = os.path.join(REPO, 'tests', 'data', 'golden', 'aaai26-tiny', 'images')


def parse_args(argv):
    """--xsam BIN --work DIR from argv (removed from it); the rest is left for unittest."""
    opts = {'xsam': os.path.join(REPO, 'build', 'bin', 'xsam'), 'work': os.path.join(REPO, 'build', 'server-tests')}
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        if argv[i] in ('--xsam', '--work') and i + 1 < len(argv):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    argv[:] = rest
    return opts


def sample_image():
    """The bundled sample image (assets/, see assets/SOURCE.md), else the golden photo."""
    assets = os.path.join(REPO, 'assets')
    names = sorted(os.listdir(assets)) if os.path.isdir(assets) else []
    images = [n for n in names if n.lower().endswith(('.png', '.jpg', '.jpeg'))]
    return os.path.join(assets, images[0]) if images else os.path.join(GOLDEN_IMAGES, 'photo.png')


def make_tiny_model(xsam, directory):
    """The tiny random model (seed 0), written once per test directory."""
    if not os.path.exists(os.path.join(directory, 'config.json')):
        if os.path.exists(directory):
            shutil.rmtree(directory)
        subprocess.run([xsam, 'random-model', '--preset', 'tiny', directory], check=True,
                       stdout=subprocess.DEVNULL)
    return directory


class Server:
    """`xsam serve` on 127.0.0.1 and a free port; stop() (or the context manager) ends it."""

    def __init__(self, xsam, model, log_path, *extra):
        self.log = open(log_path, 'w')
        args = [xsam, 'serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--dtype', 'fp32',
                '--threads', '1', *extra]
        env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE')
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.port = self._read_port(timeout=120)

    def _read_port(self, timeout):
        deadline = time.time() + timeout
        line = b''
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'xsam serve exited with {self.proc.returncode}; see {self.log.name}')
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if b'listening on http://' in line:
                    return int(line.split(b'http://')[1].split(b'/')[0].rsplit(b':', 1)[1])
        self.stop()
        raise RuntimeError(f'xsam serve did not start within {timeout} s: {line!r}')

    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP
    def connection(self, timeout=300):
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=300):
        """(status, headers dict, body bytes)."""
        c = self.connection(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get_json(self, path):
        status, _, body = self.request('GET', path)
        return status, json.loads(body)

    def post_json(self, obj, query=''):
        body = obj if isinstance(obj, (bytes, bytearray)) else json.dumps(obj).encode()
        return self.request('POST', '/v1/segment' + query, body, {'Content-Type': 'application/json'})

    def post_multipart(self, fields, files, query=''):
        body, ctype = multipart(fields, files)
        return self.request('POST', '/v1/segment' + query, body, {'Content-Type': ctype})

    def metric(self, name):
        """The value of one sample line of /metrics, e.g. 'xsam_queue_depth' or 'x{reason="a"}'."""
        _, _, body = self.request('GET', '/metrics')
        for line in body.decode().splitlines():
            if line.startswith(name + ' '):
                return float(line.split()[-1])
        return None


def multipart(fields, files):
    """fields: [(name, str|bytes)]; files: [(name, filename, bytes, content_type)] → (body, content type)."""
    boundary = 'xsam' + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value if isinstance(value, (bytes, bytearray)) else value.encode()
        out += b'\r\n'
    for name, filename, data, ctype in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f'Content-Type: {ctype}\r\n\r\n').encode()
        out += data + b'\r\n'
    out += f'--{boundary}--\r\n'.encode()
    return bytes(out), f'multipart/form-data; boundary={boundary}'


def parse_sse(body):
    """[(event, data dict)] from a text/event-stream body."""
    events = []
    for block in body.decode().split('\n\n'):
        if not block.strip():
            continue
        event, data = 'message', ''
        for line in block.split('\n'):
            if line.startswith('event:'):
                event = line[6:].strip()
            elif line.startswith('data:'):
                data += line[5:].lstrip()
        events.append((event, json.loads(data) if data else None))
    return events


def comparable(result):
    """A result without what differs between identical runs (timings, cache, queue position)."""
    r = dict(result)
    for k in ('timings', 'server', 'image_cache_hit', 'image'):
        r.pop(k, None)
    return r


def png(width, height, rgb=(0, 0, 0)):
    """A solid-colour RGB PNG, written here so the tests need no imaging library."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)

    row = b'\x00' + bytes(rgb) * width
    raw = row * height
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def log(*args):
    print(*args, file=sys.stderr, flush=True)
