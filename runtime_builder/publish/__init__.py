"""Stage 6 (after the image tests), images to a registry: `runs` (one publish or push run),
`publish` (build or reuse, test, push, list, tag), `record` (the feed and published notes),
`registry` (the one adapter over a registry's HTTP API)."""
