"""The planner actor (DESIGN §7): sessions, triggers, and the built-in template planner.

The pure rules (which planner, what a message may be, how a trigger is rendered for the
planner) live below the service layer, in :mod:`brahmi.domain.triggers`.

- :mod:`brahmi.planner.template`: the built-in deterministic planner: its decisions are
  pure functions; :class:`~brahmi.planner.template.TemplatePlanner` applies them through
  the planner's tools.
- :mod:`brahmi.planner.tools`: the planner's tools in process, bound to one session.
- :mod:`brahmi.planner.actor`: the actor that takes triggers off the durable inbox and
  runs the planner on each, one at a time per session.
"""
