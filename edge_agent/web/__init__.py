"""Review web page: violations with evidence, decisions, CSV export, live bays, bay drawing.

``create_app`` builds the FastAPI app around injected parts; ``build_web`` wraps it in a
uvicorn server thread that ``edge-agent run`` starts and stops with the agent.
"""

from edge_agent.web.app import create_app
from edge_agent.web.server import WebServer, build_web

__all__ = ["WebServer", "build_web", "create_app"]
