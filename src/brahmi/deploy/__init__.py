"""Deployment of an ``aramb.toml`` (DESIGN §11): plans, targets, records.

``plan`` turns a parsed file into concrete services (pure); ``base`` is the target
interface and its results; ``local`` is the built-in target (Docker when an engine answers,
otherwise from source); ``records`` keeps what a deployment started under ``BRAHMI_HOME``;
``api`` holds the functions the CLI and the built-in skills call.
"""
