"""The dataprep command line (installed as the package ``dataprep_cli``)."""
