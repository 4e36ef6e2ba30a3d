FROM python:3.11-slim

# X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (gunicorn reads it): set it to
# your proxy's address. Believing every client would let a guesser pick a new address per try.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VIGIL_ENV=production \
    FORWARDED_ALLOW_IPS=127.0.0.1
WORKDIR /app

COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .

COPY . .
RUN SECRET_KEY=collectstatic-only PAGING_WEBHOOK_SECRET=collectstatic-only-webhooks \
    python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 vigil && chown -R vigil /app
USER vigil

EXPOSE 8000
CMD ["gunicorn", "vigil.asgi:application", "-k", "uvicorn.workers.UvicornWorker", \
     "--bind", "0.0.0.0:8000", "--workers", "3"]
