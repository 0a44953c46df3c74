# The registry, as a small image that runs as a non-root user: `registry serve` under gunicorn.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY registry ./registry
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --create-home --uid 10001 registry
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER registry
WORKDIR /home/registry
ENV REGISTRY_DATA_DIR=/home/registry/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthcheck', timeout=4).status != 200)"
ENTRYPOINT ["registry"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4"]
