"""The Docker-free LocalStack sandbox: a launcher and the LocalStack plugins that fill its gaps."""
