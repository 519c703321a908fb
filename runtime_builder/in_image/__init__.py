"""Standard-library code that runs inside the images: `patching` (the backport applier, copied
into build contexts as apply_patches.py), `probe` (the image tests' fact collector, piped in)."""
