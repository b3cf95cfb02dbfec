"""The dashboard at ``/`` (DESIGN §8, issue 14): server-rendered page shells and small
JavaScript modules that read the REST API and follow the event stream.

The modules are plain ES modules with JSDoc types; nothing is built. Check their types with
``npx -p typescript@5 tsc -p src/brahmi/web/jsconfig.json`` (strict, no output).
"""
