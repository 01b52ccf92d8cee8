"""The app for WSGI servers and Celery workers; nothing else imports ``app.py``.

waitress-serve --listen 127.0.0.1:5000 wsgi:app      # a WSGI server
celery -A wsgi:celery worker --pool threads -Q ledger        # a ledger worker (EXECUTOR=celery)
"""

from __future__ import annotations

from app import create_app

from workers.celery_app import bind_worker_app, celery

app = create_app()
bind_worker_app(app)

__all__ = ["app", "celery"]
