#!/usr/bin/python3
"""API tests of `xsam serve` against servers started here on 127.0.0.1 with the tiny random
model: every task (each checked against `xsam segment` on the same inputs, overlay PNG included),
streaming, every bad input, 8 concurrent clients against serial results, a full queue (503), a client
that goes away (cancel) and the request timeout.

  /usr/bin/python3 tests/server/test_api.py --xsam build/bin/xsam --work build/server-tests
"""
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

OPTS = harness.parse_args(sys.argv)
WORK = os.path.join(OPTS['work'], 'api')
PHOTO = os.path.join(harness.GOLDEN_IMAGES, 'photo.png')        # 360 × 240
PORTRAIT = os.path.join(harness.GOLDEN_IMAGES, 'portrait.png')
MODEL = None


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def b64(data):
    return base64.b64encode(data).decode()


def mask_png(width, height, box):
    """A black PNG with a white rectangle [x0, x1) × [y0, y1), written without an imaging library."""
    import struct
    import zlib
    x0, y0, x1, y1 = box
    raw = bytearray()
    for y in range(height):
        raw += b'\x00' + bytes(255 if (x0 <= x < x1 and y0 <= y < y1) else 0 for x in range(width))
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)) +
            chunk(b'IDAT', zlib.compress(bytes(raw))) + chunk(b'IEND', b''))


# Every task: the request fields and the same request as `xsam segment` options.
TASK_CASES = [
    ('chat', {'task': 'chat', 'prompt': 'What is in the image?', 'max_new_tokens': 8},
     ['--task', 'chat', '--prompt', 'What is in the image?', '--max-new-tokens', '8']),
    ('semantic', {'task': 'semantic', 'classes': ['cat', 'dog', 'sky']},
     ['--task', 'semantic', '--classes', 'cat,dog,sky']),
    ('instance', {'task': 'instance', 'classes': 'cat, dog', 'score_threshold': 0.2},
     ['--task', 'instance', '--classes', 'cat,dog', '--threshold', '0.2']),
    ('panoptic', {'task': 'panoptic', 'prompt': 'ins: cat, dog; sem: sky, grass'},
     ['--task', 'panoptic', '--prompt', 'ins: cat, dog; sem: sky, grass']),
    ('referring', {'task': 'referring', 'prompt': 'the dog on the left'},
     ['--task', 'referring', '--prompt', 'the dog on the left']),
    ('reasoning', {'task': 'reasoning', 'prompt': 'What could I sit on?'},
     ['--task', 'reasoning', '--prompt', 'What could I sit on?']),
    ('gcg', {'task': 'gcg', 'max_new_tokens': 16}, ['--task', 'gcg', '--max-new-tokens', '16']),
    ('interactive', {'task': 'interactive', 'refs': [{'kind': 'box', 'xy': [20, 20, 120, 120]}]},
     ['--task', 'interactive', '--box', '20,20,120,120']),
    ('vgd', {'task': 'vgd', 'refs': [{'kind': 'point', 'xy': [50, 60]},
                                     {'kind': 'scribble', 'xy': [[10, 10], [100, 80], [150, 90]]}]},
     ['--task', 'vgd', '--point', '50,60', '--scribble', '10,10;100,80;150,90']),
    ('open_vocab', {'task': 'open_vocab', 'classes': ['zebra', 'tree'], 'seed': 3},
     ['--task', 'open_vocab', '--classes', 'zebra,tree', '--seed', '3']),
    ('auto', {'prompt': 'ins: cat; sem: sky'}, ['--prompt', 'ins: cat; sem: sky']),
]


def cli_result(args, image, name):
    """`xsam segment` on the same inputs: (result JSON, overlay PNG bytes)."""
    out = os.path.join(WORK, 'cli-' + name)
    subprocess.run([OPTS['xsam'], 'segment', '--model', MODEL, '--out', out, '--dtype', 'fp32', '--threads', '1',
                    '--force', *args, image], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stem = os.path.splitext(os.path.basename(image))[0]
    with open(os.path.join(out, stem + '.json')) as f:
        result = json.load(f)
    return result, read(os.path.join(out, stem + '.overlay.png'))


def setUpModule():
    global MODEL
    os.makedirs(WORK, exist_ok=True)
    MODEL = harness.make_tiny_model(OPTS['xsam'], os.path.join(WORK, 'tiny-model'))


class MainServer(unittest.TestCase):
    """Two workers, a roomy queue, small limits so that every limit can be hit cheaply."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(OPTS['xsam'], MODEL, os.path.join(WORK, 'server-main.log'),
                                    '--workers', '2', '--queue', '16', '--max-body-mb', '1', '--max-refs', '4',
                                    '--max-image-pixels', '250000', '--max-new-tokens', '64',
                                    '--max-context-tokens', '1024')

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        assert rc == 0, f'xsam serve exited with {rc}'

    def segment(self, request, image=PHOTO, query=''):
        status, headers, body = self.server.post_json(dict(request, image=b64(read(image))), query)
        return status, headers, body

    def ok(self, request, image=PHOTO):
        status, _, body = self.segment(request, image)
        self.assertEqual(status, 200, body[:500])
        return json.loads(body)

    def assert_error(self, status, body, want_status, want_field, want_code=None):
        self.assertEqual(status, want_status, body[:500])
        err = json.loads(body)['error']
        self.assertEqual(err['field'], want_field, err)
        self.assertTrue(err['message'].startswith(want_field + ':'), err)
        if want_code:
            self.assertEqual(err['code'], want_code, err)
        # The server keeps serving.
        self.assertEqual(self.server.get_json('/healthz')[1]['status'], 'ok')
        return err

    # ---- plain endpoints
    def test_healthz_info_metrics(self):
        status, health = self.server.get_json('/healthz')
        self.assertEqual((status, health['status'], health['workers']), (200, 'ok', 2))
        status, info = self.server.get_json('/v1/info')
        self.assertEqual(status, 200)
        self.assertEqual(info['dtype'], 'fp32')
        self.assertIn('interactive', info['tasks'])
        self.assertEqual([p['name'] for p in info['parts']][0], 'siglip_vision')
        self.assertEqual(info['server']['limits']['max_refs'], 4)
        self.assertIn('open_vocab', info['server']['api_tasks'])
        status, headers, body = self.server.request('GET', '/metrics')
        self.assertEqual(status, 200)
        self.assertTrue(headers['content-type'].startswith('text/plain; version=0.0.4'))
        text = body.decode()
        for name in ('xsam_http_requests_total{endpoint="/healthz",code="200"}', 'xsam_queue_depth 0',
                     'xsam_workers 2', '# TYPE xsam_stage_duration_seconds histogram',
                     'xsam_image_cache_hits_total', 'xsam_process_peak_rss_bytes'):
            self.assertIn(name, text)
        status, _, page = self.server.request('GET', '/')
        self.assertEqual(status, 200)
        self.assertIn(b'<script type="module" src="app.js">', page)
        for asset in ('/app.js', '/api.js', '/refs.js', '/result_view.js', '/rle.js', '/palette.js', '/style.css'):
            status, headers, _ = self.server.request('GET', asset)
            self.assertEqual(status, 200, asset)
        self.assertTrue(self.server.request('GET', '/app.js')[1]['content-type'].startswith('text/javascript'))
        status, headers, body = self.server.request('GET', '/v1/segment')
        self.assertEqual((status, headers['allow'], json.loads(body)['error']['field']), (405, 'POST', 'method'))
        status, _, body = self.server.request('GET', '/no/such/file')
        self.assertEqual((status, json.loads(body)['error']['field']), (404, 'path'))

    # ---- every task, against the CLI
    def test_every_task_matches_cli(self):
        for name, request, args in TASK_CASES:
            with self.subTest(task=name):
                result = self.ok(request)
                expected, overlay = cli_result(args, PHOTO, name)
                self.assertEqual(result['task'], expected['task'])
                if name != 'auto':
                    self.assertEqual(result['task'], name)
                got = harness.comparable(result)
                self.assertEqual(base64.b64decode(got.pop('overlay_png')), overlay, 'overlay PNG differs from the CLI')
                self.assertEqual(got, harness.comparable(expected))
                self.assertGreaterEqual(result['server']['total_seconds'], result['timings']['total'])
                self.assertIn('prompt_tokens', result)
        status, info = self.server.get_json('/v1/info')
        self.assertEqual(status, 200)

    def test_result_schema_and_masks(self):
        r = self.ok({'task': 'interactive', 'refs': [{'kind': 'box', 'xy': [20, 20, 120, 120]}]})
        self.assertEqual((r['width'], r['height']), (360, 240))
        self.assertEqual(len(r['masks']), 1)
        m = r['masks'][0]
        self.assertEqual(set(m), {'label', 'label_id', 'score', 'box', 'area', 'segmentation'})
        self.assertEqual(m['segmentation']['size'], [240, 360])
        self.assertEqual(m['label'], 'region 0')
        self.assertTrue(base64.b64decode(r['overlay_png']).startswith(b'\x89PNG'))
        no_overlay = self.ok({'task': 'interactive', 'refs': [{'kind': 'box', 'xy': [20, 20, 120, 120]}],
                              'overlay': False})
        self.assertNotIn('overlay_png', no_overlay)
        self.assertTrue(no_overlay['image_cache_hit'] or no_overlay['server']['worker'] != r['server']['worker'])

    def test_multipart_with_mask_part(self):
        mask = mask_png(360, 240, (40, 30, 140, 130))
        path = os.path.join(WORK, 'mask-ref.png')
        with open(path, 'wb') as f:
            f.write(mask)
        status, _, body = self.server.post_multipart(
            [('task', 'interactive'), ('refs', json.dumps([{'kind': 'mask', 'part': 'm0'}])), ('seed', '0')],
            [('image', 'photo.png', read(PHOTO), 'image/png'), ('m0', 'm0.png', mask, 'image/png')])
        self.assertEqual(status, 200, body[:300])
        result = json.loads(body)
        expected, overlay = cli_result(['--task', 'interactive', '--mask', path], PHOTO, 'mask')
        got = harness.comparable(result)
        self.assertEqual(base64.b64decode(got.pop('overlay_png')), overlay)
        self.assertEqual(got, harness.comparable(expected))
        # The same mask as base64 in a JSON body, and a "request" part holding the JSON.
        self.assertEqual(harness.comparable(self.ok({'task': 'interactive', 'refs': [{'kind': 'mask', 'png': b64(mask)}]})),
                         harness.comparable(result))
        status, _, body = self.server.post_multipart(
            [('request', json.dumps({'task': 'interactive', 'refs': [{'kind': 'mask', 'part': 'm0'}]}))],
            [('image', 'photo.png', read(PHOTO), 'image/png'), ('m0', 'm0.png', mask, 'image/png')])
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(harness.comparable(json.loads(body)), harness.comparable(result))

    # ---- streaming
    def test_stream_tokens_then_result(self):
        request = {'task': 'chat', 'prompt': 'Describe the image.', 'max_new_tokens': 12}
        status, headers, body = self.segment(request, query='?stream=1')
        self.assertEqual(status, 200)
        self.assertTrue(headers['content-type'].startswith('text/event-stream'))
        events = harness.parse_sse(body)
        kinds = [e for e, _ in events]
        self.assertEqual(kinds[-1], 'result', kinds)
        self.assertEqual(set(kinds[:-1]), {'token'})
        result = events[-1][1]
        tokens = [d['text'] for e, d in events if e == 'token']
        self.assertGreaterEqual(len(tokens), 1)
        self.assertLessEqual(len(tokens), len(result['generated_ids']))
        self.assertEqual(result['server']['generated_tokens'], len(result['generated_ids']))
        # The streamed pieces spell the generated text, and the result is the non-streamed one.
        self.assertEqual(''.join(tokens).replace(' ', ''), result['raw_text'].replace(' ', ''))
        self.assertEqual(harness.comparable(result), harness.comparable(self.ok(request)))
        # "stream": true in the body works as well; a task without generation streams only its result.
        status, _, body = self.segment({'task': 'interactive', 'stream': True,
                                        'refs': [{'kind': 'point', 'xy': [100, 100]}]})
        events = harness.parse_sse(body)
        self.assertEqual([e for e, _ in events], ['result'])
        # An error after the stream started arrives as an "error" event.
        status, _, body = self.segment({'task': 'interactive', 'refs': [{'kind': 'point', 'xy': [1, 1]},
                                                                        {'kind': 'point', 'xy': [2, 2]}]},
                                       query='?stream=1')
        events = harness.parse_sse(body)
        self.assertEqual(events[-1][0], 'error')
        self.assertEqual(events[-1][1]['error']['field'], 'refs')

    # ---- bad input: 4xx with a JSON error naming the field; the server keeps serving
    def test_non_image_upload(self):
        status, _, body = self.server.post_multipart([('task', 'chat')],
                                                     [('image', 'notes.txt', b'hello, not an image', 'text/plain')])
        self.assert_error(status, body, 415, 'image', 'unsupported_media_type')
        truncated = read(PHOTO)[:200]  # a PNG header (360 × 240) without its pixels
        status, _, body = self.server.post_json({'image': b64(truncated), 'task': 'chat'})
        self.assert_error(status, body, 415, 'image')
        # A header that claims a huge image is refused before decoding.
        status, _, body = self.server.post_json({'image': b64(b'GIF89a\xff\x7f\xff\x7f garbage'), 'task': 'chat'})
        self.assert_error(status, body, 413, 'image', 'limit')
        status, _, body = self.server.post_json({'image': '***not base64***', 'task': 'chat'})
        self.assert_error(status, body, 400, 'image')
        status, _, body = self.server.post_json({'task': 'chat'})
        self.assert_error(status, body, 400, 'image')

    def test_oversized_body_and_image(self):
        big = {'image': b64(read(PHOTO)), 'task': 'chat', 'prompt': 'x' * (1 << 20)}
        status, _, body = self.server.post_json(big)
        self.assert_error(status, body, 413, 'body', 'limit')
        status, _, body = self.server.post_json({'image': b64(harness.png(600, 500)), 'task': 'chat'})
        err = self.assert_error(status, body, 413, 'image', 'limit')
        self.assertIn('600x500', err['message'])
        status, _, body = self.segment({'task': 'chat', 'max_new_tokens': 65})
        self.assert_error(status, body, 413, 'max_new_tokens', 'limit')
        status, _, body = self.segment({'task': 'chat', 'prompt': 'x' * 9000})
        self.assert_error(status, body, 413, 'prompt', 'limit')
        # Prompt tokens: the prompt plus max_new_tokens must fit --max-context-tokens (1024).
        status, _, body = self.segment({'task': 'chat', 'prompt': 'tell me about it ' * 300, 'max_new_tokens': 8})
        err = self.assert_error(status, body, 413, 'prompt', 'limit')
        self.assertIn('1024', err['message'])

    def test_malformed_json(self):
        status, _, body = self.server.post_json(b'{"task": "chat", "prompt": ')
        self.assert_error(status, body, 400, 'body', 'malformed_json')
        status, _, body = self.server.post_json(b'[1, 2]')
        self.assert_error(status, body, 400, 'body')
        status, _, body = self.server.request('POST', '/v1/segment', b'task=chat', {'Content-Type': 'text/plain'})
        self.assert_error(status, body, 415, 'Content-Type')
        status, _, body = self.segment({'task': 'chat', 'promt': 'typo'})
        self.assert_error(status, body, 400, 'promt')
        status, _, body = self.segment({'task': 'interactive', 'score_threshold': 'high',
                                        'refs': [{'kind': 'point', 'xy': [1, 1]}]})
        self.assert_error(status, body, 400, 'score_threshold')

    def test_unknown_task(self):
        status, _, body = self.segment({'task': 'colourise', 'prompt': 'x'})
        err = self.assert_error(status, body, 400, 'task', 'invalid_argument')
        self.assertIn('interactive', err['message'])
        status, _, body = self.segment({'task': 'chat', 'mode': 'dream'})
        self.assert_error(status, body, 400, 'mode')

    def test_refs_outside_the_image(self):
        cases = [
            ({'kind': 'point', 'xy': [360, 10]}, 'refs[0].xy'),        # x == width is outside
            ({'kind': 'box', 'xy': [10, 10, 400, 100]}, 'refs[0].xy'),
            ({'kind': 'scribble', 'xy': [[10, 10], [20, -1]]}, 'refs[0].xy'),
            ({'kind': 'mask', 'png': b64(mask_png(100, 100, (0, 0, 50, 50)))}, 'refs[0].png'),
            ({'kind': 'lasso', 'xy': [1, 2]}, 'refs[0].kind'),
            ({'kind': 'box', 'xy': [1, 2, 3]}, 'refs[0].xy'),
        ]
        for ref, field in cases:
            with self.subTest(ref=ref['kind'], field=field):
                status, _, body = self.segment({'task': 'interactive', 'refs': [ref]})
                self.assert_error(status, body, 400, field)
        # A ref the library refuses (degenerate box): its message names the ref.
        status, _, body = self.segment({'task': 'interactive', 'refs': [{'kind': 'box', 'xy': [10, 10, 10, 50]}]})
        self.assert_error(status, body, 400, 'refs[0]')

    def test_too_many_refs(self):
        refs = [{'kind': 'point', 'xy': [10 * i + 5, 10]} for i in range(5)]
        status, _, body = self.segment({'task': 'vgd', 'refs': refs})
        self.assert_error(status, body, 413, 'refs', 'limit')
        status, _, body = self.segment({'task': 'interactive', 'refs': refs[:2]})
        self.assert_error(status, body, 400, 'refs')

    def test_invalid_utf8(self):
        body = b'{"image": "' + b64(read(PHOTO)).encode() + b'", "task": "chat", "prompt": "caf\xc3 bad"}'
        status, _, out = self.server.post_json(body)
        self.assert_error(status, out, 400, 'prompt')
        status, _, out = self.server.post_multipart([('task', 'referring'), ('prompt', b'the \xff dog')],
                                                    [('image', 'photo.png', read(PHOTO), 'image/png')])
        self.assert_error(status, out, 400, 'prompt')
        status, _, out = self.server.post_multipart([('task', 'semantic'), ('classes', b'cat, \xed\xa0\x80')],
                                                    [('image', 'photo.png', read(PHOTO), 'image/png')])
        self.assert_error(status, out, 400, 'classes')

    # ---- concurrency: 8 clients at once give the serial results
    def test_eight_concurrent_clients_match_serial(self):
        requests = [(TASK_CASES[i % len(TASK_CASES)][1], PHOTO if i % 3 else PORTRAIT) for i in range(8)]
        serial = [harness.comparable(self.ok(req, img)) for req, img in requests]
        hits_before = self.server.metric('xsam_image_cache_hits_total')
        results = [None] * 8
        errors = []
        barrier = threading.Barrier(8)

        def client(i):
            try:
                barrier.wait()
                req, img = requests[i]
                status, _, body = self.server.post_json(dict(req, image=b64(read(img))))
                results[i] = (status, body)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        self.assertEqual(errors, [])
        for i, (status, body) in enumerate(results):
            self.assertEqual(status, 200, body[:300])
            self.assertEqual(harness.comparable(json.loads(body)), serial[i], f'request {i} differs from serial')
        self.assertGreater(self.server.metric('xsam_image_cache_hits_total'), hits_before)


class BusyServer(unittest.TestCase):
    """One worker and one queue slot: a full queue answers 503, clients that leave cancel their work."""

    LONG = {'task': 'chat', 'prompt': 'Tell me a long story.', 'max_new_tokens': 3000}

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(OPTS['xsam'], MODEL, os.path.join(WORK, 'server-busy.log'),
                                    '--workers', '1', '--queue', '1', '--max-new-tokens', '3000')

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def wait_metric(self, name, value, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (self.server.metric(name) or 0) >= value:
                return
            time.sleep(0.1)
        self.fail(f'{name} did not reach {value} within {timeout} s (is {self.server.metric(name)})')

    def test_queue_full_then_cancel_on_disconnect(self):
        image = b64(read(PHOTO))
        # 1: a long streamed generation occupies the only worker (read until its first token).
        c1 = self.server.connection()
        c1.request('POST', '/v1/segment?stream=1', json.dumps(dict(self.LONG, image=image)),
                   {'Content-Type': 'application/json'})
        r1 = c1.getresponse()
        self.assertEqual(r1.status, 200)
        for _ in range(3):  # a few tokens: it is generating
            self.assertTrue(r1.readline().startswith(b'event: token'))
            self.assertTrue(r1.readline().startswith(b'data: '))
            self.assertEqual(r1.readline(), b'\n')
        # 2: the next one waits in the only queue slot.
        c2 = self.server.connection()
        c2.request('POST', '/v1/segment', json.dumps(dict(self.LONG, image=image)),
                   {'Content-Type': 'application/json'})
        self.wait_metric('xsam_queue_depth', 1)
        # 3: no room: 503 with Retry-After and a JSON error, at once.
        t = time.time()
        status, headers, body = self.server.post_json(dict(self.LONG, image=image))
        self.assertEqual(status, 503, body[:300])
        self.assertLess(time.time() - t, 10)
        self.assertGreaterEqual(int(headers['retry-after']), 1)
        self.assertEqual(json.loads(body)['error']['code'], 'queue_full')
        self.assertEqual(self.server.metric('xsam_requests_rejected_total{reason="queue_full"}'), 1)
        # Both clients go away: the queued request is dropped, the running one stops at its next token.
        c2.sock.shutdown(socket.SHUT_RDWR)
        c2.close()
        r1.close()
        c1.sock.shutdown(socket.SHUT_RDWR)
        c1.close()
        self.wait_metric('xsam_requests_cancelled_total{reason="client_gone"}', 2)
        # The worker is free again: a short request is answered, and the long ones generated little
        # (every token a worker generates is counted, cancelled requests' included).
        t = time.time()
        status, _, body = self.server.post_json({'image': image, 'task': 'chat', 'prompt': 'Hi', 'max_new_tokens': 4})
        self.assertEqual(status, 200, body[:300])
        self.assertLess(time.time() - t, 60)
        self.assertLess(self.server.metric('xsam_generated_tokens_total'), 2000)


class TimeoutServer(unittest.TestCase):
    """--timeout: a request that runs too long is cancelled and answered 504.

    The timeout is a small fraction of what the long request needs even on a fast machine (3000 tokens of
    the tiny model take about a second on 2 cores): the worker enforces the deadline at every token, so the
    request cannot slip through between the waiting thread's polls."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(OPTS['xsam'], MODEL, os.path.join(WORK, 'server-timeout.log'),
                                    '--timeout', '0.25', '--max-new-tokens', '3000')

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_timeout(self):
        request = dict(BusyServer.LONG, image=b64(read(PHOTO)))
        t = time.time()
        status, _, body = self.server.post_json(request)
        self.assertEqual(status, 504, body[:300])
        self.assertEqual(json.loads(body)['error']['code'], 'timeout')
        self.assertLess(time.time() - t, 30)
        status, _, body = self.server.post_json(request, '?stream=1')
        events = harness.parse_sse(body)
        self.assertEqual(events[-1][0], 'error')
        self.assertEqual(events[-1][1]['error']['code'], 'timeout')
        self.assertEqual(self.server.metric('xsam_requests_cancelled_total{reason="timeout"}'), 2)
        # The server still answers (a few tries: on a loaded machine the worker may still be finishing
        # the cancelled request's vision stage when the first try's 0.25 s are up; the image is then cached).
        for _ in range(10):
            status, _, body = self.server.post_json({'image': request['image'], 'task': 'chat', 'prompt': 'Hi',
                                                     'max_new_tokens': 2})
            if status == 200:
                break
        self.assertEqual(status, 200, body[:300])


if __name__ == '__main__':
    unittest.main(verbosity=2)
