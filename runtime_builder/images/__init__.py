"""Stage 4, build contexts to images on a real engine: `builder`, `bootstrap` (offline bases and
service images), and the adapters `engine` (Docker CLI, BuildKit), `host` (packages, daemons),
`secrets` (the host's CA bundle and index, as BuildKit secrets)."""
