"""The desk on the web: FastAPI pages (Jinja2 + htmx) and the JSON API, over winback.desk."""
