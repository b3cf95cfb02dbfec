"""Scheduling and running: workers claim ready tasks, run them, and apply the results."""
