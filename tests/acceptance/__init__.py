"""Acceptance tests: drive the `headwater` command as a user would, in subprocesses.

A package so its module names (test_project, ...) cannot clash with other layers'."""
