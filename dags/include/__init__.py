"""Platform conventions shared by the DAG files (not a DAG; see .airflowignore).

Airflow puts the DAG folder on sys.path, so a DAG file imports this as
``include``. Everything here is cheap at import: no network, database or
Variable access until a task calls a function.
"""
