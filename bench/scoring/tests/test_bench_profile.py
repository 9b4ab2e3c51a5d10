"""Attributing py-spy's collapsed stacks to the parts of a scoring request."""
import pytest

from bench.scoring import profile

RAW = """\
run (gunicorn/workers/gthread.py:120);handle (gunicorn/workers/gthread.py:300);parse (gunicorn/http/parser.py:40) 10
run (gunicorn/workers/gthread.py:120);__call__ (scoring/app.py:140);_score (scoring/app.py:95);predict (sklearn/svm/_base.py:800);_validate (sklearn/base.py:600) 30
run (gunicorn/workers/gthread.py:120);__call__ (scoring/app.py:140);_score (scoring/app.py:95);convert_numpy (scoring/entry.py:60) 5
run (gunicorn/workers/gthread.py:120);_score (scoring/app.py:95);info (logging/__init__.py:1500);emit (logging/__init__.py:1100) 5
not a stack line
"""


@pytest.mark.parametrize("stack, bucket", [
    (["run (gunicorn/workers/gthread.py:1)", "predict (sklearn/svm/_base.py:1)"],
     "model predict (sklearn)"),
    (["_score (scoring/app.py:1)", "observe (prometheus_client/metrics.py:1)"], "metrics (prometheus)"),
    (["handle (gunicorn/workers/gthread.py:1)", "parse (gunicorn/http/message.py:1)"],
     "gunicorn http parsing"),
    (["Thread.run (threading.py:1)", "_worker (concurrent/futures/thread.py:81)"],
     "gunicorn worker loop (threads, epoll, socket writes)"),
    (["dumps (json/__init__.py:231)", "encode (json/encoder.py:200)"], "json encode"),
    (["_score (scoring/app.py:1)", "uuid4 (uuid.py:723)"], "request id (uuid4)"),
    (["main (x.py:1)"], "other"),
], ids=["sklearn", "prometheus", "gunicorn-http", "thread-pool", "json-dumps", "uuid", "unknown"])
def test_the_innermost_known_frame_decides_the_bucket(stack, bucket):
    assert profile.frame_bucket(stack) == bucket


def test_summarize_counts_samples_per_bucket_and_leaf():
    buckets, leaves, total = profile.summarize(RAW)
    assert total == 50
    assert buckets["model predict (sklearn)"] == 30
    assert buckets["gunicorn http parsing"] == 10
    assert buckets["input conversion"] == 5 and buckets["logging"] == 5
    assert leaves["_validate (sklearn/base.py:600)"] == 30


def test_render_lists_shares_and_innermost_frames():
    buckets, leaves, total = profile.summarize(RAW)
    text = profile.render(buckets, leaves, total, rps=1000.0)
    assert "| model predict (sklearn) | 60% |" in text
    assert "60.0%  _validate (sklearn/base.py:600)" in text
