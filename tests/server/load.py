#!/usr/bin/python3
"""Load run against `xsam serve`: requests/s and p50/p99 latency at given client counts, and the
server's peak RSS (VmHWM of the server process, from /metrics).

Starts its own server with the tiny random model unless --url is given:
  /usr/bin/python3 tests/server/load.py --xsam build/bin/xsam --work build/server-tests \
      --clients 1,8 --requests 64 [--workers 2] [--task interactive]
"""
import argparse
import base64
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REQUESTS = {
    'interactive': {'task': 'interactive', 'refs': [{'kind': 'box', 'xy': [20, 20, 120, 120]}]},
    'referring': {'task': 'referring', 'prompt': 'the dog on the left'},
    'chat': {'task': 'chat', 'prompt': 'What is in the image?', 'max_new_tokens': 16},
}


def percentile(values, p):
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def run(server, body, clients, total):
    latencies, failures = [], []
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            t = time.perf_counter()
            status, _, out = server.post_json(body)
            dt = time.perf_counter() - t
            with lock:
                (latencies if status == 200 else failures).append(dt if status == 200 else (status, out[:200]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {'clients': clients, 'requests': len(latencies), 'failed': len(failures), 'seconds': round(wall, 3),
            'requests_per_s': round(len(latencies) / wall, 2),
            'p50_ms': round(1000 * percentile(latencies, 50), 1) if latencies else None,
            'p99_ms': round(1000 * percentile(latencies, 99), 1) if latencies else None,
            'mean_ms': round(1000 * statistics.mean(latencies), 1) if latencies else None}


def main():
    opts = harness.parse_args(sys.argv)
    ap = argparse.ArgumentParser()
    ap.add_argument('--clients', default='1,8')
    ap.add_argument('--requests', type=int, default=64)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--task', default='interactive', choices=sorted(REQUESTS))
    args = ap.parse_args(sys.argv[1:])
    work = os.path.join(opts['work'], 'load')
    os.makedirs(work, exist_ok=True)
    model = harness.make_tiny_model(opts['xsam'], os.path.join(work, 'tiny-model'))
    image = base64.b64encode(open(harness.sample_image(), 'rb').read()).decode()
    body = dict(REQUESTS[args.task], image=image)
    server = harness.Server(opts['xsam'], model, os.path.join(work, 'server.log'), '--workers', str(args.workers),
                            '--queue', '64')
    try:
        server.post_json(body)  # warm up: the first request pays one-time costs
        rows = [run(server, body, int(c), args.requests) for c in args.clients.split(',')]
        rss = server.metric('xsam_process_peak_rss_bytes')
        print(json.dumps({'task': args.task, 'workers': args.workers, 'image': os.path.basename(harness.sample_image()),
                          'runs': rows, 'server_peak_rss_mib': round(rss / 2**20, 1)}, indent=1))
    finally:
        server.stop()


if __name__ == '__main__':
    main()
