# Moments: one image for the API (`moments serve`) and the workers (`moments worker`).
# FFmpeg comes inside the PyAV wheel, so no system ffmpeg is installed.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY moments ./moments
RUN pip install . \
    && useradd --system --create-home --uid 10001 moments \
    && mkdir -p /data \
    && chown moments:moments /data

USER moments
# Scratch space (inputs downloaded from S3, reels before upload); the database and the files
# themselves live in PostgreSQL and S3 when scaled out.
ENV MOMENTS_DATA_DIR=/data \
    MOMENTS_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 8000

CMD ["moments", "serve"]
