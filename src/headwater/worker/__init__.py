"""The worker: claims ready task runs, runs them through executors under a lease, and
records the results. May import services, executors, artifacts, authoring, domain.
"""
