"""Deployment of an ``aramb.toml`` (DESIGN §11): plans, targets, records.

- ``plan``: the file checked and resolved into concrete services (pure);
- ``checks``: the one place that asks the metadata validator about a file;
- ``base``: the :class:`~brahmi.deploy.base.DeployTarget` interface and the
  :class:`~brahmi.deploy.base.Deployment` it returns; ``registry``: targets by name, from
  the ``brahmi.deploy_targets`` entry points;
- ``local``: the built-in target (Docker when an engine answers, else from source), with
  ``processes`` (supervised process groups, probes), ``source`` (build steps, tools,
  installs), ``docker`` (the engine through its client) and ``static`` (a static file
  server for frontends);
- ``records``: deployments kept as JSON under ``BRAHMI_HOME/deployments``;
- ``api``: ``deploy_project``, ``deployment_status``, ``deployment_logs``,
  ``stop_deployment``, what the CLI and the built-in skills call.
"""
