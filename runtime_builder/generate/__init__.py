"""Stage 3, matrix and locks to what is committed and read: `specs` (one spec per image, the CI
matrix), `tags`, `render` (distributions/, its only writer), `notes`, `tables`, `feed`
(releases.json, through its one writer), `touched` (the cells a change touches)."""
