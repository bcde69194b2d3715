# syntax=docker/dockerfile:1
# Reverb image: a drop-in for Spinnaker's Echo (port 8089, /opt/spinnaker/config,
# user spinnaker 10111:10111, wget for Halyard's exec health probe).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target dir between builds; the binary
# is copied out in the same step because the target mount is not in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p reverb-server \
    && install -D -m 0755 target/release/reverb /out/reverb

FROM debian:bookworm-slim
# wget: Halyard's readiness probe runs `wget --spider` inside the container.
# ca-certificates: TLS to Slack, Orca and Keel.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates wget \
    && rm -rf /var/lib/apt/lists/*
# Same user and ids as Echo's image, so existing volumes and securityContexts fit.
RUN groupadd --system --gid 10111 spinnaker \
    && useradd --system --uid 10111 --gid 10111 --home-dir /var/lib/reverb \
       --no-create-home --shell /usr/sbin/nologin spinnaker \
    && install -d -m 0755 /opt/spinnaker/config \
    && install -d -m 0750 -o 10111 -g 10111 /var/lib/reverb
COPY --from=build /out/reverb /usr/local/bin/reverb

# The store's default relative path data/reverb.db resolves under the volume,
# so the image runs with a read-only root filesystem (plus a writable /tmp).
WORKDIR /var/lib/reverb
VOLUME ["/var/lib/reverb"]
EXPOSE 8089
USER 10111:10111
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["wget", "--spider", "-q", "http://localhost:8089/health"]
ENTRYPOINT ["/usr/local/bin/reverb"]
