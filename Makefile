# The two commands a fresh machine needs. Both set the host up themselves.
.PHONY: image test unit lint

image:  ## build the default image (base and ONBUILD) and run `airflow version` in it
	python3 build.py build

test:  ## the whole suite: lint, unit tests, render check, real images, image tests, publish
	bash scripts/test-all

unit:  ## only the fast tests (no engine needed)
	python3 build.py validate
	.venv/bin/python -m pytest tests/unit -q

lint:
	.venv/bin/ruff check .
