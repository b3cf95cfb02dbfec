"""The pure core: models, batch normalisation and validation, lifecycle rules, the
planner's trigger rules. No I/O."""
