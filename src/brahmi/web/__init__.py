"""The dashboard at ``/`` (DESIGN §8, issue 14): server-rendered page shells and small
JavaScript modules that read the REST API and follow the event stream."""
