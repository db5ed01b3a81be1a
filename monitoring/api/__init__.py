"""The JSON API for the platform's token server (``/api/v1/``), authenticated by API keys."""
