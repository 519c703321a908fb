# The two commands a fresh machine needs. Both set the host up first (`build.py setup`, the only
# command that installs packages or starts daemons).
.PHONY: image test unit lint

image:  ## set the host up, build the default images (base, ONBUILD and their slim forms), run `airflow version` in one
	python3 build.py setup
	python3 build.py build

test:  ## the whole suite: lint, unit tests, render check, real images, image tests, publish
	bash scripts/test-all

unit:  ## only the fast tests (no engine needed)
	python3 build.py validate
	.venv/bin/python -m pytest tests/unit -q

lint:
	.venv/bin/ruff check .
