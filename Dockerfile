# The Lantern image the Helm chart (helm/lantern) runs: the `lantern` binary, which carries its
# pipeline definitions and reference data, on a slim Debian with the two libraries it links
# (OpenSSL 3 and zlib; librdkafka is built in). Not built by CI: CI reaches only the package
# registries, not a container registry for the base images. docs/operations.md shows how to
# build and push it.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin lantern

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/lantern lantern
COPY --from=build /src/target/release/lantern /usr/local/bin/lantern
USER 10001:10001
# /metrics, /healthz, /readyz; SQL over HTTP, dashboard and intake; PostgreSQL protocol.
EXPOSE 9898 8080 5433
ENTRYPOINT ["/usr/local/bin/lantern"]
CMD ["--help"]
