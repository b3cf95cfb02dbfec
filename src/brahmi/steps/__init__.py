"""Brahmi's built-in command steps: deterministic programs the ``command`` runtime runs.

Each module is one step, run as ``{python} -P -m brahmi.steps.<name>`` by the built-in
skill that names it in ``metadata.brahmi-command`` (the SKILL.md folder keeps the prompt
and the metadata). :mod:`brahmi.steps.protocol` holds what every step shares: reading the
request, writing the result, running a child process.

- :mod:`brahmi.steps.run_command`: ``brahmi/builtin/run-command``.
- :mod:`brahmi.steps.pytest_critique`: ``brahmi/builtin/pytest-critique``.
- :mod:`brahmi.steps.metadata_generate`: ``brahmi/builtin/aramb-metadata-generate``.
- :mod:`brahmi.steps.local_deploy`: ``brahmi/builtin/local-deployment``.
"""
