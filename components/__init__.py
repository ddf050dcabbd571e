"""ComponentResources of airflow-eks, one per module, and three helper modules
that hold none: config.py (the stack config, parsed once), iam.py (typed IAM
policy-document builders) and helm.py (``pinned_release``, how every chart is
installed)."""
