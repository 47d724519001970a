# Build: SQL is checked against the committed offline query data (.sqlx), no database needed.
FROM rust:1-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
COPY . .
RUN cargo build --release --locked --bin klinivo \
 && cp target/release/klinivo /usr/local/bin/klinivo

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home klinivo
COPY --from=build /usr/local/bin/klinivo /usr/local/bin/klinivo
USER klinivo
ENV KLINIVO_BIND=0.0.0.0:8080 \
    KLINIVO_LOG_FORMAT=json
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["klinivo"]
CMD ["serve"]
