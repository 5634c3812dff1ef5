"""Two `xsam serve` replicas behind a real nginx (Debian's), all on 127.0.0.1 and free ports, started and
stopped here. The nginx configuration is the one docs/scale-out.md gives, with the ports and the
temporary paths filled in.

  1. 40 requests from 4 client threads through nginx: all succeed, both replicas serve;
  2. one replica SIGKILLed mid-run: no request that nginx may retry is lost (every request that reached
     nginx after the kill succeeds: its connection to the dead replica is refused, so nginx passes it to the
     other), and the requests that were inside the dead replica get a clear JSON 502 — nothing else;
  3. /healthz and /readyz through nginx and on each replica; with both replicas gone, a JSON 502.

Runs $XSAM_BUILD_DIR/bin/xsam (tools/test.sh sets it; default build/) and /usr/sbin/nginx.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("XSAM_BUILD_DIR", ROOT / "build"))
XSAM = BUILD / "bin" / "xsam"
sys.path.insert(0, str(ROOT / "tests" / "server"))
import harness  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PHOTO = Path(harness.GOLDEN_IMAGES) / "photo.png"
BODY = json.dumps({"image": base64.b64encode(PHOTO.read_bytes()).decode(), "task": "semantic",
                   "classes": ["cat", "dog", "sky"]}).encode()
UNAVAILABLE = "upstream_unavailable"

# docs/scale-out.md, "nginx in front of N replicas" (keep the two in step).
NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
{user}
events {{ worker_connections 512; }}

http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;

    upstream xsam {{
        # Round robin (the default). A replica that refuses or times out is left alone for fail_timeout.
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 32m;            # = xsam serve --max-body-mb (default 32)
        client_body_buffer_size 1m;          # typical images in memory, larger ones in a temporary file

        location / {{
            proxy_pass http://xsam;
            proxy_set_header Host $host;      # xsam serve checks it (--allow-host NAME for a public name)
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_buffering off;              # ?stream=1: tokens as they come
            proxy_request_buffering on;       # the whole body first: a retry can resend it
            proxy_connect_timeout 2s;
            proxy_read_timeout 310s;          # > xsam serve --timeout (300 s): the replica answers 504 itself
            proxy_send_timeout 60s;
            # Another replica when this one cannot be reached, or answers 502/503 to a GET. POST
            # /v1/segment is passed on only when it never reached the replica (nginx's rule for
            # non-idempotent methods).
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
        }}

        # nginx's own 502/504 (no replica answered, or the one serving the request died) in the API's
        # error shape.
        error_page 502 504 = @unavailable;
        location @unavailable {{
            default_type application/json;
            add_header Retry-After 1 always;
            return 502 '{{"error": {{"status": 502, "code": "upstream_unavailable", "field": "request", "message": "request: no xsam replica answered it (the replica serving it went away, or none is up); it may be retried"}}}}\\n';
        }}
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, work: Path, upstream_ports):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstream_ports)
        # As root, nginx's workers would drop to 'nobody', which cannot write the temporary folders here.
        user = "user root root;" if os.geteuid() == 0 else ""
        for attempt in range(5):
            self.port = free_port()
            conf = work / "nginx.conf"
            conf.write_text(NGINX_CONF.format(work=work, user=user, servers=servers, port=self.port))
            self.proc = subprocess.Popen([NGINX, "-p", str(work), "-e", str(work / "error.log"), "-c", str(conf),
                                          "-g", "daemon off; master_process on;"],
                                         stdout=subprocess.DEVNULL, stderr=open(work / "stderr.log", "w"))
            if self._wait_listening():
                return
            self.stop()
        raise RuntimeError(f"nginx did not start: {(work / 'stderr.log').read_text()}{(work / 'error.log').read_text()}")

    def _wait_listening(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def segment(self):
        return self.request("POST", "/v1/segment", BODY, {"Content-Type": "application/json"})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not XSAM.exists():
        pytest.fail(f"{XSAM} not built (set XSAM_BUILD_DIR)")
    if not os.path.exists(NGINX):
        pytest.fail("nginx is missing: tools/setup.sh installs Debian's nginx")
    work = tmp_path_factory.mktemp("nginx_replicas")
    os.chmod(work, 0o755)
    model = harness.make_tiny_model(str(XSAM), str(work / "model"))
    replicas = [harness.Server(str(XSAM), model, str(work / f"replica{i}.log"), "--workers", "1") for i in range(2)]
    lb = Nginx(work / "nginx", [r.port for r in replicas])
    try:
        yield lb, replicas
    finally:
        lb.stop()
        for r in replicas:
            r.stop()


def served_200(replica):
    v = replica.metric('xsam_http_requests_total{endpoint="/v1/segment",code="200"}')
    return int(v or 0)


def run_clients(lb, n_requests, n_threads, on_response=None):
    """n_requests POSTs from n_threads threads; returns [(start, end, status, body)]."""
    results, lock = [], threading.Lock()
    counter = iter(range(n_requests))

    def client():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.monotonic()
            try:
                status, _, body = lb.segment()
            except (OSError, http.client.HTTPException) as e:
                status, body = -1, repr(e).encode()
            with lock:
                results.append((t0, time.monotonic(), status, body))
                if on_response:
                    on_response(len(results))

    threads = [threading.Thread(target=client) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


REFERENCE = {}


def check_answer(status, body):
    j = json.loads(body)
    if status == 200:
        assert j["task"] == "semantic" and j["masks"] and j["overlay_png"], j.keys()
        # Every replica gives the same answer (same model, same request).
        assert REFERENCE.setdefault("masks", j["masks"]) == j["masks"]
    else:
        assert status in (502, 503), (status, body[:300])
        code = j["error"]["code"]
        assert code == (UNAVAILABLE if status == 502 else "queue_full"), j
        assert j["error"]["message"], j
    return j


def test_health_and_readiness(stack):
    lb, replicas = stack
    for r in replicas:
        status, j = r.get_json("/healthz")
        assert status == 200 and j["status"] == "ok", j
        status, j = r.get_json("/readyz")
        assert status == 200 and j["status"] == "ready" and j["model"] == "loaded", j
    status, _, body = lb.request("GET", "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready", body


def test_40_requests_from_4_threads_all_succeed(stack):
    lb, replicas = stack
    before = [served_200(r) for r in replicas]
    results = run_clients(lb, 40, 4)
    statuses = [s for _, _, s, _ in results]
    assert statuses == [200] * 40, statuses
    for _, _, s, body in results:
        check_answer(s, body)
    served = [served_200(r) - b for r, b in zip(replicas, before)]
    print(f"\nnginx: 40 requests, 4 threads: 40 x 200; per replica {served}")
    assert sum(served) == 40 and min(served) >= 10, f"round robin should share the load: {served}"


def test_killed_replica_loses_no_retryable_request(stack):
    lb, replicas = stack
    victim, survivor = replicas
    kill = {}

    def on_response(n):
        if n == 8 and "t" not in kill:
            # Called with the clients' lock held: no request starts until the replica is gone for good
            # (its listening socket closed), so "after the kill" is well defined.
            os.kill(victim.pid(), signal.SIGKILL)
            victim.proc.wait(timeout=10)
            kill["t"] = time.monotonic()

    survivor_before = served_200(survivor)
    results = run_clients(lb, 40, 4, on_response)
    assert "t" in kill
    t = kill["t"]
    in_flight = [r for r in results if r[0] < t < r[1]]
    after = [r for r in results if r[0] >= t]
    counts = {s: sum(1 for r in results if r[2] == s) for s in sorted({r[2] for r in results})}
    print(f"\nnginx kill test: 40 requests, replica killed after 8 answers; {len(in_flight)} in flight at the "
          f"kill, {len(after)} sent after it; answers {counts}")
    for _, _, s, body in results:
        check_answer(s, body)  # 200, or a JSON 502 / 503: nothing else (no reset, no HTML page)
    assert all(r[2] == 200 for r in after), "a request sent after the kill was lost: nginx should have retried it"
    failed = [r for r in results if r[2] != 200]
    assert len(failed) <= len(in_flight) <= 4, f"{len(failed)} failures but {len(in_flight)} in flight at the kill"
    assert served_200(survivor) - survivor_before >= len(after)
    # The dead replica is out; nginx keeps answering through the other.
    status, _, body = lb.request("GET", "/readyz")
    assert status == 200, body


def test_no_replica_left_is_a_clear_502(stack):
    lb, replicas = stack
    for r in replicas:
        r.stop()
    status, headers, body = lb.segment()
    assert status == 502, (status, body[:200])
    j = json.loads(body)
    assert j["error"]["code"] == UNAVAILABLE and "replica" in j["error"]["message"], j
    assert headers.get("retry-after") == "1"
    status, _, body = lb.request("GET", "/healthz")
    assert status == 502 and json.loads(body)["error"]["code"] == UNAVAILABLE


def test_readyz_says_503_while_the_queue_is_full(tmp_path):
    """--workers 1 --queue 0: while one request computes, the next would be refused, and /readyz says so."""
    model = harness.make_tiny_model(str(XSAM), str(tmp_path / "model"))
    with harness.Server(str(XSAM), model, str(tmp_path / "serve.log"), "--workers", "1", "--queue", "0",
                        "--max-new-tokens", "1000") as s:
        status, j = s.get_json("/readyz")
        assert status == 200 and j["status"] == "ready" and j["queue_capacity"] == 0, j
        body = json.dumps({"image": base64.b64encode(PHOTO.read_bytes()).decode(), "task": "chat",
                           "prompt": "Describe the image in detail.", "max_new_tokens": 1000}).encode()
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=s.request("POST", "/v1/segment", body,
                                                                      {"Content-Type": "application/json"})))
        t.start()
        seen = None
        while t.is_alive() and seen is None:
            status, headers, raw = s.request("GET", "/readyz")
            if status == 503:
                seen = (headers, json.loads(raw))
            time.sleep(0.01)
        t.join()
        assert answer["r"][0] == 200
        assert seen is not None, "/readyz never said 503 while the only worker was busy and the queue empty"
        headers, j = seen
        assert j["status"] == "not_ready" and j["reason"] == "queue_full" and headers.get("retry-after") == "1", j
        status, j = s.get_json("/readyz")
        assert status == 200 and j["status"] == "ready", j
