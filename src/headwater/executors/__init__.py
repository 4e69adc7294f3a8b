"""Executors: how an attempt's work is carried out (a thread, a child process, a shell
command; later a container or a Celery task), behind one small interface.

May import `headwater.domain`, `headwater.errors` and `headwater.authoring` (to call
Python tasks).
"""
