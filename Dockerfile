# syntax=docker/dockerfile:1
# tursync: a static binary on an empty base image, running as a non-root
# user, the mirror on a volume. Build: docker build --build-arg VERSION=v0.1.0
# --build-arg COMMIT=$(git rev-parse HEAD) -t tursync .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# scripts/build.sh: CGO_ENABLED=0, -trimpath, version and commit by -ldflags.
RUN VERSION="${VERSION}" COMMIT="${COMMIT}" OUT=/out/usr/local/bin/tursync ./scripts/build.sh
# The empty image needs a user entry, CA roots for https://api.turso.tech,
# a /tmp for the per-org staging files and a mirror directory it may write.
RUN mkdir -p /out/etc /out/var/lib/tursync /out/etc/tursync \
 && mkdir -m 1777 /out/tmp \
 && echo 'tursync:x:65532:65532:tursync:/var/lib/tursync:/sbin/nologin' > /out/etc/passwd \
 && echo 'tursync:x:65532:' > /out/etc/group \
 && mkdir -p /out/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && chown 65532:65532 /out/var/lib/tursync

FROM scratch
COPY --from=build /out/ /
USER 65532:65532
WORKDIR /var/lib/tursync
# The mirror (mirror.url: file:/var/lib/tursync/tursync.db).
VOLUME ["/var/lib/tursync"]
# /metrics, /healthz, /readyz, /status (set http.listen: 0.0.0.0:9464 in a
# container: the default binds loopback only).
EXPOSE 9464
ENTRYPOINT ["tursync"]
CMD ["run", "--config", "/etc/tursync/config.yaml"]
