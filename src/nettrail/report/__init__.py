"""Renderers: (model, stream) -> text, JSON, pcapng, HTML."""
