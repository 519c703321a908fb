"""Cutting a release: `newversion` (plan and apply `build.py new-version`), `edits` and `yamltext`
(versions.yaml edited as text, comments kept). It drives the stages below it: lock, render, feed."""
