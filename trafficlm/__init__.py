"""TrafficLM: network anomaly detection built on a traffic foundation model."""

__version__ = "0.1.0"
