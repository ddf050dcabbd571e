"""ComponentResources of airflow-eks, one per module, and four helper modules
that hold none: config.py (the stack config, parsed once), iam.py (typed IAM
policy-document builders), helm.py (``pinned_release``, how every chart is
installed) and rds_ca.py (the RDS CA certificate pgbouncer verifies RDS with)."""
