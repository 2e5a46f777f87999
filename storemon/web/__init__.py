"""The web process: the Flask app, its blueprints (API, ingestion, stores, console, metrics, OpenAPI), access rules."""
