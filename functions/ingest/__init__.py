"""The ingest function: POST /notifications → validated → published on the topic."""
