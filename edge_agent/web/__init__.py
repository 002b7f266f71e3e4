"""Review web page: violations with evidence, decisions, CSV export, live bays, bay drawing.

``web.app.create_app`` builds the FastAPI app around injected parts; ``web.server.build_web`` wraps it in a
uvicorn server thread that ``edge-agent run`` starts and stops with the agent. Nothing is imported here: every
``edge_agent.web.*`` import runs this file first, and importing the app here made each of them (the ``review`` and
``users`` commands' parsers in every ``edge-agent --help`` among them) load FastAPI, Jinja2 and jsonschema.
"""
