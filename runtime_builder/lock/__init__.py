"""Stage 2, the matrix to hash-pinned lock files in locks/ (its only writer): `locks` (cells,
staleness, writing), `resolver` (the one uv call), `inhouse` (in-house packages' lock files),
`pkgindex` (questions new-version asks the index)."""
