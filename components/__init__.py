"""ComponentResources of airflow-eks, one per module."""
