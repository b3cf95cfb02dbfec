"""``aramb.toml``, the file describing a project's services (DESIGN §11).

- :mod:`~brahmi.metadata.model`: the parsed form and the format's constants;
- :mod:`~brahmi.metadata.rules`: every rule, pure (``check``, ``parse_references``,
  ``is_secret_name``, ``SECRET_NAME_WORDS``);
- :mod:`~brahmi.metadata.files`: reading a file (``load``, ``validate_file``), problems
  with line numbers;
- :mod:`~brahmi.metadata.sources`, :mod:`~brahmi.metadata.frameworks` and
  :mod:`~brahmi.metadata.detect`: what a project holds (a bounded walk that follows no
  symlink; components; compose files, databases, environment variables);
- :mod:`~brahmi.metadata.generate`: the file derived from that, merged into an existing
  one (``generate``, ``write``).
"""
