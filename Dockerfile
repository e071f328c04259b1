# A thin wrapper around the README's commands (CI exercises the same `make` targets).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /nossbench
COPY . .
RUN make install
CMD ["make", "demo"]
