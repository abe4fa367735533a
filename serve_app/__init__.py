"""The HTTP ingress (Ray Serve + FastAPI). Never imports torch."""
