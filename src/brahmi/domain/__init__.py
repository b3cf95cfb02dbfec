"""The pure core: models, batch normalisation and validation, lifecycle rules. No I/O."""
