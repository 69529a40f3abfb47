# inferload as a small container image: a static (musl) binary on an empty
# base, running as a non-root user.
#
#   docker build -t inferload:latest .
#   docker run --rm inferload:latest run --url http://host:8000 -c 32 -n 500
#
# Push it where the cluster pulls from (e.g. `docker tag inferload:latest
# registry.example.com/inferload:1 && docker push ...`).

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin inferload \
 && strip target/release/inferload

FROM alpine:3 AS certs
RUN apk add --no-cache ca-certificates

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/release/inferload /usr/local/bin/inferload
# A numeric user, so runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/inferload"]
