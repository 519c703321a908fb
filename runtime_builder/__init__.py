"""Build, test and publish the Airflow Runtime images from one release matrix (versions.yaml)."""
