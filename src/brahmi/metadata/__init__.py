"""``aramb.toml``, the file describing a project's services (DESIGN §11).

- :mod:`~brahmi.metadata.model`: the parsed form and the format's constants;
- :mod:`~brahmi.metadata.rules`: every rule, pure (``check``, ``parse_references``,
  ``is_secret_name``);
- :mod:`~brahmi.metadata.files`: reading a file, problems with line numbers;
- :mod:`~brahmi.metadata.detect` and :mod:`~brahmi.metadata.generate`: deriving the file
  from a project's compose files and code, merged into an existing file.
"""
