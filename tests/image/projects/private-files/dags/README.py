"""A DAG folder with nothing in it but this note: the project is about its .env and settings file."""
