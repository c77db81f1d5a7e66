"""Running jobs: the one job function (run.py), dispatchers that call it, and housekeeping."""
