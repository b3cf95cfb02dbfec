"""The ``brahmi`` command line: a thin adapter over :mod:`brahmi.service`."""
