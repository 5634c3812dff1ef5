#!/usr/bin/python3
"""`xsam serve` against the cases of the adversarial pass (docs/reliability.md §9): a busy port, slow and
half-closed clients, too many connections, NUL characters, misspelt multipart fields, duplicate JSON keys,
Host headers, forged log lines, web-root files that are not regular files, odd methods and lengths.

  /usr/bin/python3 tests/server/test_hardening.py --xsam build/bin/xsam --work build/server-tests
"""
import base64
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

OPTS = harness.parse_args(sys.argv)
WORK = os.path.join(OPTS['work'], 'hardening')
PHOTO = os.path.join(harness.GOLDEN_IMAGES, 'photo.png')
MODEL = None
SOCKET_TIMEOUT = 120  # generous: a broken server shows as a timeout error, never as a hang


def setUpModule():
    global MODEL
    os.makedirs(WORK, exist_ok=True)
    MODEL = harness.make_tiny_model(OPTS['xsam'], os.path.join(WORK, 'tiny-model'))


def b64(path):
    with open(path, 'rb') as f:
        return base64.b64encode(f.read()).decode()


def raw_exchange(port, data, half_close=False, timeout=SOCKET_TIMEOUT):
    """Sends bytes on a fresh connection and reads until the server closes it."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        return b''.join(chunks)
    finally:
        s.close()


def status_of(response):
    return int(response.split(b' ', 2)[1]) if response.startswith(b'HTTP/1.1 ') else None


def body_of(response):
    """The first response's JSON body (a connection may carry more than one response)."""
    head, rest = response.split(b'\r\n\r\n', 1)
    length = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')][0]
    return json.loads(rest[:length])


class Guards(unittest.TestCase):
    """One server with small connection limits."""

    @classmethod
    def setUpClass(cls):
        cls.web_root = os.path.join(WORK, 'web-root')
        os.makedirs(os.path.join(cls.web_root, 'a-directory'), exist_ok=True)
        with open(os.path.join(cls.web_root, 'index.html'), 'w') as f:
            f.write('<p>page</p>')
        fifo = os.path.join(cls.web_root, 'a-fifo')
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        cls.log_path = os.path.join(WORK, 'server-guards.log')
        cls.server = harness.Server(OPTS['xsam'], MODEL, cls.log_path, '--max-connections', '3',
                                    '--accept-queue', '1', '--header-timeout', '2', '--web-root', cls.web_root)

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0  # also: a FIFO in the web root does not hang the shutdown

    @staticmethod
    def photo():
        with open(PHOTO, 'rb') as f:
            return f.read()

    def post(self, obj):
        return self.server.post_json(obj)

    def error(self, status, body):
        return status, json.loads(body)['error']

    # ---- sockets
    def test_second_server_on_a_busy_port_refuses_to_start(self):
        r = subprocess.run([OPTS['xsam'], 'serve', '--model', MODEL, '--port', str(self.server.port), '--threads', '1'],
                           capture_output=True, timeout=300)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'cannot listen', r.stderr)
        self.assertIn(b'in use', r.stderr)

    def test_half_closed_client_gets_its_answer(self):
        body = json.dumps({'image': b64(PHOTO), 'task': 'chat', 'prompt': 'Hi', 'max_new_tokens': 3}).encode()
        request = (b'POST /v1/segment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n'
                   b'Connection: close\r\nContent-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
        response = raw_exchange(self.server.port, request, half_close=True)
        self.assertEqual(status_of(response), 200, response[:300])
        self.assertEqual(body_of(response)['task'], 'chat')
        # Streaming too.
        response = raw_exchange(self.server.port, request.replace(b'/v1/segment', b'/v1/segment?stream=1'),
                                half_close=True)
        self.assertEqual(status_of(response), 200, response[:300])
        self.assertIn(b'event: result', response)

    def test_slow_clients_are_cut_off_and_extra_connections_get_503(self):
        # Ten clients that send one byte and then nothing: 3 are served, 1 waits, the rest get 503 at
        # once; the served ones get 408 when their header deadline passes. None of them hangs.
        socks = [socket.create_connection(('127.0.0.1', self.server.port), timeout=SOCKET_TIMEOUT) for _ in range(10)]
        for s in socks:
            s.sendall(b'G')
        answers = []
        for s in socks:
            data = b''
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
            answers.append(status_of(data))
            s.close()
        self.assertTrue(set(answers) <= {408, 503}, answers)
        self.assertGreaterEqual(answers.count(503), 1, answers)
        self.assertGreaterEqual(answers.count(408), 1, answers)
        status, _ = self.server.get_json('/healthz')
        self.assertEqual(status, 200)

    # ---- text fields
    def test_nul_in_any_text_field_is_refused(self):
        image = b64(PHOTO)
        for field, request in [
                ('prompt', {'task': 'referring', 'prompt': 'ca\u0000t'}),
                ('classes[0]', {'task': 'semantic', 'classes': ['ca\u0000t']}),
                ('classes', {'task': 'semantic', 'classes': 'dog, ca\u0000t'}),
                ('question', {'task': 'chat', 'prompt': 'x', 'question': 'a\u0000b'}),
                ('answer', {'task': 'referring', 'prompt': 'x', 'answer': 'a\u0000b'})]:
            status, err = self.error(*self.post(dict(request, image=image))[::2])
            self.assertEqual(status, 400, field)
            self.assertEqual(err['field'], field)
            self.assertIn('NUL', err['message'])
        status, _, body = self.server.post_multipart([('task', 'referring'), ('prompt', b'ca\x00t')],
                                                     [('image', 'p.png', self.photo(), 'image/png')])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)['error']['field'], 'prompt')

    def test_misspelt_multipart_fields_are_refused_like_json(self):
        with open(PHOTO, 'rb') as f:
            photo = f.read()
        status, _, body = self.server.post_multipart([('task', 'referring'), ('promt', 'the cat')],
                                                     [('image', 'p.png', photo, 'image/png')])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)['error']['field'], 'promt')
        # A file part that no mask ref names.
        status, _, body = self.server.post_multipart([('task', 'referring'), ('prompt', 'the cat')],
                                                     [('image', 'p.png', photo, 'image/png'),
                                                      ('maks', 'm.png', photo, 'image/png')])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)['error']['field'], 'maks')
        # A field given twice.
        status, _, body = self.server.post_multipart([('task', 'referring'), ('prompt', 'a'), ('prompt', 'b')],
                                                     [('image', 'p.png', photo, 'image/png')])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)['error']['field'], 'prompt')

    def test_duplicate_json_keys_are_refused(self):
        body = ('{"image": "%s", "task": "referring", "prompt": "the cat", "prompt": "the dog"}' % b64(PHOTO)).encode()
        status, _, text = self.server.post_json(body)
        self.assertEqual(status, 400, text)
        self.assertEqual(json.loads(text)['error']['field'], 'prompt')

    # ---- HTTP
    def test_host_header_must_name_this_server(self):
        status, _, body = self.server.request('GET', '/healthz', headers={'Host': 'evil.example'})
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)['error']['field'], 'Host')
        for host in ('localhost', f'localhost:{self.server.port}', f'127.0.0.1:{self.server.port}', '[::1]:80'):
            status, _, _ = self.server.request('GET', '/healthz', headers={'Host': host})
            self.assertEqual(status, 200, host)

    def test_log_lines_cannot_be_forged(self):
        self.server.request('GET', '/x%0aFORGED%20200%0d')
        self.server.request('GET', '/healthz')  # flushes the log line before
        with open(self.log_path, 'rb') as f:
            lines = f.read().split(b'\n')
        self.assertFalse(any(line.startswith(b'FORGED') for line in lines))
        self.assertTrue(any(b'\\x0aFORGED' in line for line in lines))

    def test_bad_content_length_and_other_methods(self):
        response = raw_exchange(self.server.port, b'POST /v1/segment HTTP/1.1\r\nHost: localhost\r\n'
                                                  b'Content-Length: -1\r\nConnection: close\r\n\r\n')
        self.assertEqual(status_of(response), 400, response[:300])
        self.assertEqual(body_of(response)['error']['field'], 'Content-Length')
        status, headers, body = self.server.request('PUT', '/v1/segment', b'{}')
        self.assertEqual(status, 405, body)
        self.assertEqual(headers['allow'], 'POST')
        status, headers, body = self.server.request('POST', '/healthz', b'{}')
        self.assertEqual(status, 405, body)
        self.assertEqual(headers['allow'], 'GET')
        status, _, _ = self.server.request('DELETE', '/nothing-here')
        self.assertEqual(status, 404)
        response = raw_exchange(self.server.port, b'GET /\r\nHost: localhost\r\nConnection: close\r\n\r\n')
        self.assertEqual(status_of(response), 400, response[:300])
        self.assertIn('malformed', body_of(response)['error']['message'])

    def test_web_root_serves_regular_files_only(self):
        status, _, body = self.server.request('GET', '/index.html')
        self.assertEqual((status, body), (200, b'<p>page</p>'))
        for path in ('/a-fifo', '/a-directory', '/a-directory/', '/index.html%00.png'):
            status, _, body = self.server.request('GET', path)
            self.assertEqual(status, 404, path)


if __name__ == '__main__':
    unittest.main(verbosity=2)
