"""gunicorn settings for `registry serve` (it passes bind, workers, threads and timeout on the
command line); usable directly: `gunicorn -c python:registry.gunicorn_conf registry.wsgi:app`."""

import os
import shutil

bind = "127.0.0.1:8000"
workers = 2
worker_class = "gthread"
threads = 8
timeout = 120  # a push of 100,000 fragments checks storage and writes rows for a while
graceful_timeout = 30  # on SIGTERM, requests in flight get this long to finish
keepalive = 5
accesslog = None  # the app logs one JSON line per request itself (registry.request_log)
errorlog = "-"
control_socket_disable = True  # one shared socket path would clash between registries on a host


def on_starting(server):
    # Metrics files of a previous run would be added to this one's.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def post_worker_init(worker):
    # Install and preview events are written in bulk by a thread of each worker
    # (registry.services.events), not by an INSERT and COMMIT of every GET.
    from registry.services import events

    app = getattr(worker, "wsgi", None)
    if "registry" in getattr(app, "extensions", {}):
        events.start_buffering(app)


def worker_exit(server, worker):
    # A clean stop (TERM, INT, QUIT, max_requests, a timed-out worker) writes what is buffered;
    # atexit does it too, for exits that pass no hook.
    from registry.services import events

    app = getattr(worker, "wsgi", None)
    if "registry" in getattr(app, "extensions", {}):
        events.stop_buffering(app)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    # `registry serve` made a temporary metrics folder for this run; leave nothing behind.
    if os.environ.get("REGISTRY_OWNS_METRICS_DIR"):
        shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)
