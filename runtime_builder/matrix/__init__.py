"""Stage 1, versions.yaml to a validated, typed matrix: `load` (the way in), `reader` (raw YAML and
its problems), `schema` (structure and inheritance), `sources` (patches/ and inhouse/),
`evolution` (constraints and image changes), `rules` (versioning policy), `lifecycle`, `model`."""
