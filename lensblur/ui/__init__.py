"""``lensblur ui``: a local web app (gradio) for people who edit photos rather than write Python.

``ui/session.py`` holds the work (open, focus, preview, render, export) without gradio; ``ui/app.py`` is
the page. Needs the ``ui`` extra (``pip install lensblur[ui]``).
"""

__all__ = ["launch"]


def launch(**kwargs):
    """Start the web app (see :func:`lensblur.ui.app.launch`)."""
    from .app import launch as start

    return start(**kwargs)
