"""The other job queues of the jobs benchmark, each with the same two tasks.

``count`` increments ``{BENCH_KEY}:count``; ``latency(sent)`` appends now - sent (ms) to
``{BENCH_KEY}:lat``. The Redis URL and the key come from BENCH_REDIS and BENCH_KEY.
"""
