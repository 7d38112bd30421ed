# The `cairn` binary in a small image, for compose.yaml. Build: docker build -t cairn .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin cairn

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/cairn /usr/local/bin/cairn
# Listening beyond loopback, `cairn serve` starts only with an account or a token: set
# CAIRN_ADMIN_EMAIL and CAIRN_ADMIN_PASSWORD (the first owner) or CAIRN_API_TOKEN.
ENV CAIRN_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["cairn"]
CMD ["serve"]
