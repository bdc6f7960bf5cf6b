# Build: the release binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kontor-server --bin kontor

# Run: a small image, an unprivileged user, data in a volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin kontor \
    && mkdir -p /data && chown kontor /data
COPY --from=build /src/target/release/kontor /usr/local/bin/kontor
USER kontor
ENV KONTOR_DATA=/data KONTOR_HTTP=0.0.0.0:8080
VOLUME /data
EXPOSE 8080 1143 1110 2525 1587
ENTRYPOINT ["kontor"]
CMD ["serve"]
