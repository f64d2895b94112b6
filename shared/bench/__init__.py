"""`sightwire bench`: a stated workload against a running stack, measured from the outside.

Only the public API is used (DESIGN §10): sessions with camera sources are
created over REST, results are read over SSE like a browser reads them, and the
pipeline's own counters come from `GET /stream/stats`. So the same code
measures the stack whatever sits between the workers and the gateway.
"""
