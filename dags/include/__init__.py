"""Platform conventions shared by the DAG files (not a DAG; see .airflowignore).

Airflow 3 puts the DAG bundle's root (the DAG folder) on sys.path in the DAG
processor and in every task, so a DAG file imports this as
``include``. Everything here is cheap at import: no network, database or
Variable access until a task calls a function.
"""
