"""Standard-library code that runs inside the images, copied into the build contexts: the entry
point and /clean-logs of the official image's contract, the backport applier, the strip script, the
SBOM reader, and the service images' entry points. It imports nothing of the package."""
